#pragma once
// IP Access Rules at request time: a binary prefix trie per address family, built once per config
// generation and shared read-only by every worker. A lookup walks at most 32 (IPv4) or 128 (IPv6)
// nodes whatever the number of rules (Cloudflare allows 50,000 per account). "allow" beats "block";
// no match = allowed; an IPv4-mapped IPv6 client ("::ffff:1.2.3.4") is matched as IPv4.

#include "config/config.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

namespace edge522 {

class access_matcher {
public:
    explicit access_matcher(config::access_rules const& rules);

    struct decision {
        bool allowed = true;
        config::cidr const* rule = nullptr;  // the rule that decided; nullptr = no rule matched
    };
    decision check(boost::asio::ip::address const& client) const noexcept;
    bool empty() const noexcept { return empty_; }

private:
    struct node {
        std::uint32_t child[2] = {0, 0};  // 0 = none (index 0 is the root, never a child)
        config::cidr const* allow = nullptr;
        config::cidr const* block = nullptr;
    };
    void insert(std::vector<node>& trie, config::cidr const& c, bool allow);
    static decision walk(std::vector<node> const& trie, std::uint8_t const* addr, unsigned bits) noexcept;

    std::vector<node> v4_{1};
    std::vector<node> v6_{1};
    bool empty_ = true;
};

} // namespace edge522
