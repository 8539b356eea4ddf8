#pragma once
// IP prefixes for access rules and origin-firewall emulation: "10.0.0.0/8", "2001:db8::/32", or a
// single address ("203.0.113.7" = /32, "::1" = /128). Parsed strictly: a prefix with host bits set
// ("10.0.0.1/8") is an error, as a typo in a firewall rule must not pass silently.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edge522::config {

struct cidr {
    std::array<std::uint8_t, 16> bytes{};  // network byte order; IPv4 uses the first 4
    bool v6 = false;
    unsigned prefix = 0;                   // 0..32 or 0..128
    std::string text;                      // as written, for logs ("matched block rule 10.0.0.0/8")

    unsigned max_prefix() const noexcept { return v6 ? 128 : 32; }
    bool bit(unsigned i) const noexcept { return (bytes[i / 8] >> (7 - i % 8)) & 1; }
    // Does `addr` (4 or 16 bytes, same family) fall inside?
    bool contains(std::uint8_t const* addr, bool addr_v6) const noexcept;
};

std::optional<cidr> parse_cidr(std::string_view text, std::string& error);

} // namespace edge522::config
