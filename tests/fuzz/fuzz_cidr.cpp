// bytes -> config::parse_cidr per line, then access_matcher over the rules that parsed, checked
// against a linear scan of the same rules ("allow" beats "block", no match = allowed, IPv4-mapped
// IPv6 matched as IPv4). Lines starting with '-' are block rules, with '?' addresses to look up.

#include "config/cidr.hpp"
#include "config/config.hpp"
#include "proxy/access.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace edge522;

namespace {

bool linear_contains(config::cidr const& c, boost::asio::ip::address const& a) {
    if (a.is_v4()) {
        auto b = a.to_v4().to_bytes();
        return c.contains(b.data(), false);
    }
    auto v6 = a.to_v6();
    if (v6.is_v4_mapped()) {
        auto b = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_bytes();
        return c.contains(b.data(), false);
    }
    auto b = v6.to_bytes();
    return c.contains(b.data(), true);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size > 4096) return 0;
    std::string_view in(reinterpret_cast<char const*>(data), size);
    config::access_rules rules;
    std::vector<boost::asio::ip::address> lookups;
    while (!in.empty()) {
        auto nl = in.find('\n');
        std::string_view line = in.substr(0, nl);
        in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
        if (line.starts_with("?")) {
            boost::system::error_code ec;
            auto a = boost::asio::ip::make_address(std::string(line.substr(1)), ec);
            if (!ec) lookups.push_back(a);
            continue;
        }
        bool const block = line.starts_with("-");
        if (block) line.remove_prefix(1);
        std::string error;
        auto c = config::parse_cidr(line, error);
        FUZZ_CHECK(c.has_value() == error.empty());
        if (!c) continue;
        FUZZ_CHECK(c->prefix <= c->max_prefix());
        FUZZ_CHECK(c->text == line);
        FUZZ_CHECK(c->contains(c->bytes.data(), c->v6));  // the network address is inside
        FUZZ_CHECK(!c->contains(c->bytes.data(), !c->v6));
        (block ? rules.block : rules.allow).push_back(std::move(*c));
    }
    access_matcher m(rules);
    FUZZ_CHECK(m.empty() == rules.empty());
    for (auto const& a : lookups) {
        bool any_allow = false, any_block = false;
        for (auto const& c : rules.allow) any_allow = any_allow || linear_contains(c, a);
        for (auto const& c : rules.block) any_block = any_block || linear_contains(c, a);
        auto d = m.check(a);
        FUZZ_CHECK(d.allowed == (any_allow || !any_block));
        if (any_allow || any_block) {
            FUZZ_CHECK(d.rule != nullptr);
            FUZZ_CHECK(linear_contains(*d.rule, a));
        } else {
            FUZZ_CHECK(d.rule == nullptr);
        }
    }
    return 0;
}
