#include "config/cidr.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace edge522::config {

bool cidr::contains(std::uint8_t const* addr, bool addr_v6) const noexcept {
    if (addr_v6 != v6) return false;
    unsigned full = prefix / 8;
    if (!std::equal(bytes.begin(), bytes.begin() + full, addr)) return false;
    unsigned rest = prefix % 8;
    if (rest == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (addr[full] & mask) == bytes[full];
}

std::optional<cidr> parse_cidr(std::string_view text, std::string& error) {
    cidr c;
    c.text = std::string(text);
    auto slash = text.find('/');
    std::string ip(text.substr(0, slash));
    if (ip.find(':') != std::string::npos) {
        if (inet_pton(AF_INET6, ip.c_str(), c.bytes.data()) != 1) {
            error = "\"" + ip + "\" is not an IPv6 address";
            return std::nullopt;
        }
        c.v6 = true;
    } else if (inet_pton(AF_INET, ip.c_str(), c.bytes.data()) != 1) {
        error = "\"" + ip + "\" is not an IP address";
        return std::nullopt;
    }
    c.prefix = c.max_prefix();
    if (slash != std::string_view::npos) {
        auto bits = text.substr(slash + 1);
        unsigned n = 0;
        auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
        if (bits.empty() || ec != std::errc{} || p != bits.data() + bits.size() || n > c.max_prefix()) {
            error = "\"/" + std::string(bits) + "\" is not a prefix length (0 to " +
                    std::to_string(c.max_prefix()) + " for " + (c.v6 ? "IPv6" : "IPv4") + ")";
            return std::nullopt;
        }
        c.prefix = n;
    }
    // Host bits must be zero: "10.0.0.1/8" is almost certainly a typo for one of two rules.
    cidr net = c;
    for (unsigned i = c.prefix; i < c.max_prefix(); ++i)
        net.bytes[i / 8] &= static_cast<std::uint8_t>(~(1u << (7 - i % 8)));
    if (net.bytes != c.bytes) {
        char buf[INET6_ADDRSTRLEN];
        inet_ntop(c.v6 ? AF_INET6 : AF_INET, net.bytes.data(), buf, sizeof buf);
        error = "\"" + c.text + "\" has host bits set (the network is " + buf + "/" +
                std::to_string(c.prefix) + "; for one address write it without a prefix)";
        return std::nullopt;
    }
    return c;
}

} // namespace edge522::config
