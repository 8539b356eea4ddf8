#include "proxy/access.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace edge522;
namespace net = boost::asio;

namespace {

config::access_rules rules(std::vector<std::string> allow, std::vector<std::string> block) {
    config::access_rules r;
    std::string e;
    for (auto const& a : allow) r.allow.push_back(*config::parse_cidr(a, e));
    for (auto const& b : block) r.block.push_back(*config::parse_cidr(b, e));
    return r;
}

bool allowed(access_matcher const& m, std::string const& ip) { return m.check(net::ip::make_address(ip)).allowed; }

} // namespace

TEST_CASE("access_matcher: no rules, no match = allowed", "[access]") {
    auto r = rules({}, {});
    access_matcher m(r);
    CHECK(m.empty());
    CHECK(allowed(m, "203.0.113.1"));
    auto r2 = rules({}, {"10.0.0.0/8"});
    access_matcher m2(r2);
    CHECK(allowed(m2, "11.0.0.1"));
    CHECK_FALSE(allowed(m2, "10.200.0.1"));
    CHECK(m2.check(net::ip::make_address("10.1.1.1")).rule->text == "10.0.0.0/8");
}

TEST_CASE("access_matcher: allow beats block whatever the prefix lengths", "[access]") {
    auto r = rules({"10.0.0.0/8"}, {"10.1.2.3", "10.1.0.0/16"});
    access_matcher m(r);
    CHECK(allowed(m, "10.1.2.3"));  // a /8 allow beats a /32 block
    auto r2 = rules({"10.1.2.3"}, {"0.0.0.0/0"});
    access_matcher m2(r2);
    CHECK(allowed(m2, "10.1.2.3"));
    CHECK_FALSE(allowed(m2, "10.1.2.4"));
    CHECK(m2.check(net::ip::make_address("10.1.2.3")).rule->text == "10.1.2.3");
}

TEST_CASE("access_matcher: the most specific block rule names the match", "[access]") {
    auto r = rules({}, {"0.0.0.0/0", "192.0.2.0/24"});
    access_matcher m(r);
    CHECK(m.check(net::ip::make_address("192.0.2.9")).rule->text == "192.0.2.0/24");
    CHECK(m.check(net::ip::make_address("198.51.100.1")).rule->text == "0.0.0.0/0");
}

TEST_CASE("access_matcher: IPv6, and IPv4-mapped IPv6 clients match IPv4 rules", "[access]") {
    auto r = rules({"2001:db8:1::/48"}, {"2001:db8::/32", "192.0.2.0/24"});
    access_matcher m(r);
    CHECK_FALSE(allowed(m, "2001:db8:2::1"));
    CHECK(allowed(m, "2001:db8:1::1"));
    CHECK(allowed(m, "2001:db9::1"));
    CHECK_FALSE(allowed(m, "::ffff:192.0.2.7"));
    CHECK(allowed(m, "::ffff:198.51.100.7"));
    auto v4only = rules({}, {"0.0.0.0/0"});
    access_matcher m2(v4only);
    CHECK(allowed(m2, "::1"));  // an IPv4 rule never matches a real IPv6 client
}

TEST_CASE("access_matcher: 50,000 rules agree with a linear scan", "[access]") {
    std::mt19937 rng(522);
    config::access_rules r;
    std::string e;
    for (int i = 0; i < 50000; ++i) {
        unsigned prefix = 16 + rng() % 17;
        std::uint32_t a = rng() & (prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));
        auto text = std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
                    std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255) + "/" + std::to_string(prefix);
        auto c = config::parse_cidr(text, e);
        REQUIRE(c);
        (i % 10 == 0 ? r.allow : r.block).push_back(*c);
    }
    access_matcher m(r);
    for (int i = 0; i < 4000; ++i) {
        std::uint32_t a = rng();
        auto addr = net::ip::address_v4(a);
        auto bytes = addr.to_bytes();
        bool any_allow = false, any_block = false;
        for (auto const& c : r.allow) any_allow = any_allow || c.contains(bytes.data(), false);
        for (auto const& c : r.block) any_block = any_block || c.contains(bytes.data(), false);
        bool expect = any_allow || !any_block;
        REQUIRE(m.check(addr).allowed == expect);
    }
}
