#include "proxy/access.hpp"

namespace edge522 {

access_matcher::access_matcher(config::access_rules const& rules) {
    for (auto const& c : rules.allow) insert(c.v6 ? v6_ : v4_, c, true);
    for (auto const& c : rules.block) insert(c.v6 ? v6_ : v4_, c, false);
    empty_ = rules.empty();
}

void access_matcher::insert(std::vector<node>& trie, config::cidr const& c, bool allow) {
    std::uint32_t at = 0;
    for (unsigned i = 0; i < c.prefix; ++i) {
        unsigned b = c.bit(i);
        if (trie[at].child[b] == 0) {
            trie[at].child[b] = static_cast<std::uint32_t>(trie.size());
            trie.emplace_back();
        }
        at = trie[at].child[b];
    }
    auto& slot = allow ? trie[at].allow : trie[at].block;
    if (!slot) slot = &c;  // of duplicate rules, the first names the match
}

access_matcher::decision access_matcher::walk(std::vector<node> const& trie, std::uint8_t const* addr,
                                              unsigned bits) noexcept {
    config::cidr const* block = nullptr;
    std::uint32_t at = 0;
    for (unsigned i = 0;; ++i) {
        auto const& n = trie[at];
        if (n.allow) return {true, n.allow};  // allow beats block, whatever the prefix lengths
        if (n.block) block = n.block;  // the most specific block rule names the match
        if (i == bits) break;
        at = n.child[(addr[i / 8] >> (7 - i % 8)) & 1];
        if (at == 0) break;
    }
    return block ? decision{false, block} : decision{};
}

access_matcher::decision access_matcher::check(boost::asio::ip::address const& client) const noexcept {
    if (empty_) return {};
    if (client.is_v4()) {
        auto b = client.to_v4().to_bytes();
        return walk(v4_, b.data(), 32);
    }
    auto v6 = client.to_v6();
    if (v6.is_v4_mapped()) {
        auto b = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_bytes();
        return walk(v4_, b.data(), 32);
    }
    auto b = v6.to_bytes();
    return walk(v6_, b.data(), 128);
}

} // namespace edge522
