#pragma once
// Cloudflare-style ray ids: 16 lowercase hex + "-" + colo, e.g. "230b030023ae2822-SJC". One
// generator per worker thread (no sharing, no locks); ids are not guaranteed unique, as with
// Cloudflare's.

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace edge522 {

// One ray id, in place: a request's exchange holds it (no allocation; a std::string of its 20
// characters would be one).
class ray_id {
public:
    static constexpr std::size_t max_colo = 7;  // config allows 3 letters; longer is cut
    ray_id() = default;
    std::string_view view() const noexcept { return {text_, size_}; }
    operator std::string_view() const noexcept { return view(); }

private:
    friend class ray_id_generator;
    char text_[16 + 1 + max_colo] = {};
    std::uint8_t size_ = 0;
};

class ray_id_generator {
public:
    ray_id_generator() : state_(std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32)) {}
    explicit ray_id_generator(std::uint64_t seed) : state_(seed) {}

    ray_id next(std::string_view colo) noexcept {
        static constexpr char hex[] = "0123456789abcdef";
        colo = colo.substr(0, ray_id::max_colo);
        ray_id out;
        std::uint64_t v = splitmix64();
        for (int i = 15; i >= 0; --i, v >>= 4) out.text_[i] = hex[v & 0xf];
        out.text_[16] = '-';
        std::copy(colo.begin(), colo.end(), out.text_ + 17);
        out.size_ = static_cast<std::uint8_t>(17 + colo.size());
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
