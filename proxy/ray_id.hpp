#pragma once
// Cloudflare-style ray ids: 16 lowercase hex + "-" + colo, e.g. "230b030023ae2822-SJC". One
// generator per worker thread (no sharing, no locks); ids are not guaranteed unique, as with
// Cloudflare's.

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace edge522 {

class ray_id_generator {
public:
    ray_id_generator() : state_(std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32)) {}
    explicit ray_id_generator(std::uint64_t seed) : state_(seed) {}

    std::string next(std::string_view colo) {
        static constexpr char hex[] = "0123456789abcdef";
        std::uint64_t v = splitmix64();
        std::string out(16 + 1 + colo.size(), '-');
        for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = hex[v & 0xf];
        out.replace(17, colo.size(), colo);
        return out;
    }

private:
    std::uint64_t splitmix64() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    std::uint64_t state_;
};

} // namespace edge522
