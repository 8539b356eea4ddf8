// bytes -> edge522::config::load_string. Never a crash, hang or UB; either a config or a non-empty
// error list, never both, and a loaded config satisfies what the rest of the proxy relies on.

#include "config/config.hpp"
#include "proxy/access.hpp"
#include "proxy/router.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <boost/asio/ip/address.hpp>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace edge522;

namespace {

bool has_upper(std::string_view s) {
    for (unsigned char c : s)
        if (std::isupper(c)) return true;
    return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view text(reinterpret_cast<char const*>(data), size);
    auto r = config::load_string(text, "fuzz.toml");

    FUZZ_CHECK(static_cast<bool>(r.cfg) == r.errors.empty());
    for (auto const& e : r.errors) {
        FUZZ_CHECK(e.file == "fuzz.toml");
        FUZZ_CHECK(!e.message.empty());
        FUZZ_CHECK(e.line >= 0 && e.column >= 0);
        auto s = e.to_string();
        FUZZ_CHECK(!s.empty());
        FUZZ_CHECK(s.starts_with("fuzz.toml"));
    }
    if (!r.cfg) return 0;

    auto const& cfg = *r.cfg;
    FUZZ_CHECK(!cfg.origins.empty());
    FUZZ_CHECK(!cfg.edge.listen.empty());
    FUZZ_CHECK(cfg.edge.max_request_header > 0 && cfg.edge.max_request_header <= 64ull * 1024 * 1024);
    FUZZ_CHECK(cfg.edge.max_response_header > 0 && cfg.edge.max_response_header <= 64ull * 1024 * 1024);
    for (auto const& o : cfg.origins) {
        FUZZ_CHECK(!o.hosts.empty());
        FUZZ_CHECK(!o.servers.empty());
        for (auto const& h : o.hosts) {
            FUZZ_CHECK(!h.empty());
            FUZZ_CHECK(!has_upper(h));
        }
        for (auto const& s : o.servers) FUZZ_CHECK(!s.host.empty() && s.port != 0);
        for (auto const& c : o.firewall_allow) FUZZ_CHECK(c.prefix <= c.max_prefix());
    }

    // What a worker builds from a fresh config: the router and the access tries.
    router rt(cfg);
    (void)rt.route("www.example.test");
    (void)rt.route("");
    access_matcher global(cfg.access);
    auto a4 = boost::asio::ip::make_address("203.0.113.7");
    auto a6 = boost::asio::ip::make_address("2001:db8::1");
    (void)global.check(a4);
    (void)global.check(a6);
    for (auto const& o : cfg.origins)
        if (o.access) {
            access_matcher m(*o.access);
            (void)m.check(a4);
            (void)m.check(a6);
        }

    // A loaded config loads again from the same text to the same shape (no hidden state).
    auto again = config::load_string(text, "fuzz.toml");
    FUZZ_CHECK(again.cfg && again.cfg->origins.size() == cfg.origins.size());
    return 0;
}
