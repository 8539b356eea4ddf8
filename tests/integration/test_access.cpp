// IP Access Rules (403 / 1006), egress addresses and the emulated origin firewall, on loopback:
// clients bind to different 127.0.0.x sources, the edge binds its origin connects to others.
#include "harness.hpp"

#include <catch2/catch.hpp>

using namespace edge522::test;
using namespace std::chrono_literals;

namespace {

std::string access_config(std::string const& origin_addr, std::string const& access_toml,
                          std::string const& origin_extra = "", std::string const& listen_extra = "") {
    return "[edge]\nlisten = [\"127.0.0.1:0\"" + listen_extra + "]\nthreads = 1\n[admin]\nlisten = \"\"\n" +
           access_toml + "\n[[origins]]\nname = \"app\"\nservers = [\"" + origin_addr + "\"]\n" + origin_extra + "\n";
}

} // namespace

TEST_CASE("access rules: single address, CIDR, allow beats block, no match = allowed", "[access]") {
    origin o(origin::behaviour::healthy);
    edge e(access_config(o.address(), "[access]\nblock = [\"127.0.0.9\", \"127.0.1.0/24\", \"127.0.2.0/24\"]\n"
                                      "allow = [\"127.0.2.7\"]\n"));
    CHECK(get_from("127.0.0.1", e.port()).status == 200);        // no rule matches
    auto blocked = get_from("127.0.0.9", e.port(), "shop.test", "Accept: application/json\r\n");
    CHECK(blocked.status == 403);
    CHECK(blocked.status_line == "HTTP/1.1 403 Forbidden");
    CHECK(blocked.body.find("\"error_code\":1006") != std::string::npos);
    CHECK(blocked.body.find("\"ray_id\":\"" + blocked.header("cf-ray") + "\"") != std::string::npos);
    auto html = get_from("127.0.1.200", e.port(), "shop.test");
    CHECK(html.status == 403);
    CHECK(html.body.find("127.0.1.200") != std::string::npos);  // the page names the client's address
    CHECK(get_from("127.0.2.7", e.port()).status == 200);        // allow beats block
    CHECK(get_from("127.0.2.8", e.port()).status == 403);
    CHECK(o.requests() == 2);                                    // blocked clients never reach the origin
    CHECK(e.log_contains("failure=access_denied phase=access detail=\"client 127.0.0.9 matched block rule 127.0.0.9 of [access]\""));
}

TEST_CASE("access rules: an allowlist is block everything plus allow", "[access]") {
    origin o(origin::behaviour::healthy);
    edge e(access_config(o.address(), "[access]\nblock = [\"0.0.0.0/0\", \"::/0\"]\nallow = [\"127.0.0.5\", \"::1\"]\n",
                         "", ", \"[::1]:0\""));
    CHECK(get_from("127.0.0.5", e.port()).status == 200);
    CHECK(get_from("127.0.0.6", e.port()).status == 403);
}

TEST_CASE("access rules: IPv6 clients on [::1]", "[access][ipv6]") {
    origin o(origin::behaviour::healthy);
    // Listen on [::1] only: the first "listening on" line is the IPv6 one.
    std::string cfg = "[edge]\nlisten = [\"[::1]:0\"]\nthreads = 1\n[admin]\nlisten = \"\"\n"
                      "[access]\nblock = [\"::1\"]\n[[origins]]\nname = \"app\"\nservers = [\"" + o.address() + "\"]\n";
    edge e(cfg);
    CHECK(get_from("", e.port(), "a.test", "", "::1").status == 403);
    std::string cfg2 = "[edge]\nlisten = [\"[::1]:0\"]\nthreads = 1\n[admin]\nlisten = \"\"\n"
                       "[access]\nblock = [\"::/0\"]\nallow = [\"::1/128\"]\n[[origins]]\nname = \"app\"\nservers = [\"" + o.address() + "\"]\n";
    edge e2(cfg2);
    CHECK(get_from("", e2.port(), "a.test", "", "::1").status == 200);
}

TEST_CASE("access rules: a per-origin table replaces [access] for that origin's hosts", "[access]") {
    origin a(origin::behaviour::healthy), b(origin::behaviour::healthy);
    std::string cfg = "[edge]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[admin]\nlisten = \"\"\n"
                      "[access]\nblock = [\"127.0.0.9\"]\n"
                      "[[origins]]\nname = \"open\"\nhosts = [\"open.test\"]\nservers = [\"" + a.address() + "\"]\n"
                      "access = { allow = [], block = [] }\n"
                      "[[origins]]\nname = \"strict\"\nhosts = [\"*\"]\nservers = [\"" + b.address() + "\"]\n"
                      "access = { block = [\"127.0.0.0/8\"] }\n";
    edge e(cfg);
    CHECK(get_from("127.0.0.9", e.port(), "open.test").status == 200);   // its own empty table: allowed
    CHECK(get_from("127.0.0.9", e.port(), "other.test").status == 403);
    CHECK(get_from("127.0.0.1", e.port(), "other.test").status == 403);
    CHECK(e.log_contains("of origin \\x22strict\\x22"));
}

TEST_CASE("egress: origin connects come from the configured addresses, rotated", "[egress]") {
    origin o(origin::behaviour::close_after);  // one connection per request, so each one is new
    edge e(access_config(o.address(), "", "egress = [\"127.0.0.2\", \"127.0.0.3\"]"));
    for (int i = 0; i < 4; ++i) CHECK(get(e.port()).status == 200);
    CHECK(o.peers() == std::vector<std::string>{"127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"});
}

TEST_CASE("egress: [edge].egress applies to origins without their own", "[egress]") {
    origin o(origin::behaviour::healthy);
    std::string cfg = "[edge]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\negress = [\"127.0.0.4\"]\n[admin]\nlisten = \"\"\n"
                      "[[origins]]\nname = \"app\"\nservers = [\"" + o.address() + "\"]\n";
    edge e(cfg);
    CHECK(get(e.port()).status == 200);
    CHECK(o.peers() == std::vector<std::string>{"127.0.0.4"});
}

TEST_CASE("egress: an address the machine does not have is a startup error", "[egress]") {
    // 192.0.2.1 (TEST-NET-1) is never configured here; binding to it fails without sending anything.
    std::string cfg = "[edge]\nlisten = [\"127.0.0.1:0\"]\negress = [\"192.0.2.1\"]\n[admin]\nlisten = \"\"\n"
                      "[[origins]]\nname = \"app\"\nservers = [\"127.0.0.1:9\"]\n";
    auto r = run_edge({"--config", write_temp("egress.toml", cfg)});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("egress address 192.0.2.1 is not usable on this machine") != std::string::npos);
}

TEST_CASE("origin firewall: drop -> 522 at the deadline, reject -> 521 at once, allowed -> 200", "[egress][firewall]") {
    origin o(origin::behaviour::healthy);
    SECTION("drop") {
        edge e(access_config(o.address(), "[timeouts]\nconnect = \"300ms\"\n",
                             "egress = [\"127.0.0.3\"]\nfirewall_allow = [\"127.0.0.2/32\"]\nfirewall_action = \"drop\""));
        auto r = get(e.port());
        CHECK(r.status == 522);
        CHECK(r.seconds >= 0.29);
        CHECK(r.seconds < 1.0);
        CHECK(r.header("edge522-diagnosis").find("from 127.0.0.3") != std::string::npos);
        CHECK(r.header("edge522-diagnosis").find("firewall") != std::string::npos);
        CHECK(o.connections() == 0);  // no SYN reached the origin
    }
    SECTION("reject") {
        edge e(access_config(o.address(), "",
                             "egress = [\"127.0.0.3\"]\nfirewall_allow = [\"127.0.0.2\"]\nfirewall_action = \"reject\""));
        auto r = get(e.port());
        CHECK(r.status == 521);
        CHECK(r.seconds < 0.3);
        CHECK(r.header("edge522-diagnosis").find("127.0.0.3 not in firewall_allow") != std::string::npos);
        CHECK(o.connections() == 0);
    }
    SECTION("allowed egress connects for real") {
        edge e(access_config(o.address(), "",
                             "egress = [\"127.0.0.2\"]\nfirewall_allow = [\"127.0.0.0/30\"]\nfirewall_action = \"drop\""));
        CHECK(get(e.port()).status == 200);
        CHECK(o.peers() == std::vector<std::string>{"127.0.0.2"});
    }
    SECTION("no egress: the kernel's source address (127.0.0.1) meets the firewall") {
        edge e(access_config(o.address(), "", "firewall_allow = [\"127.0.0.2\"]\nfirewall_action = \"reject\""));
        auto r = get(e.port());
        CHECK(r.status == 521);
        CHECK(r.header("edge522-diagnosis").find("from 127.0.0.1") != std::string::npos);
    }
}

TEST_CASE("origin firewall: an outdated allowlist gives intermittent 522s", "[egress][firewall]") {
    origin o(origin::behaviour::close_after);
    edge e(access_config(o.address(), "[timeouts]\nconnect = \"200ms\"\n",
                         "egress = [\"127.0.0.2\", \"127.0.0.3\"]\nfirewall_allow = [\"127.0.0.2\"]\nfailover = false"));
    std::vector<int> codes;
    for (int i = 0; i < 4; ++i) codes.push_back(get(e.port()).status);
    CHECK(codes == std::vector<int>{200, 522, 200, 522});
}

TEST_CASE("origin firewall: with failover, egress rotates per request, not per attempt", "[egress][firewall]") {
    // Two servers behind the same outdated allowlist. Rotating per attempt would put every request's
    // first attempt on 127.0.0.2 and its failover on 127.0.0.3 (all 200, each after a 522 wait);
    // per request, the dropped source fails on both servers and the allowed one succeeds: about half
    // 522s, as the README promises.
    origin a(origin::behaviour::healthy);
    origin b(origin::behaviour::healthy);
    std::string cfg = "[edge]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[admin]\nlisten = \"\"\n"
                      "[timeouts]\nconnect = \"200ms\"\n[[origins]]\nname = \"app\"\nservers = [\"" + a.address() +
                      "\", \"" + b.address() + "\"]\negress = [\"127.0.0.3\", \"127.0.0.2\"]\n"
                      "firewall_allow = [\"127.0.0.2\"]\nfailover = true\norigin_idle_timeout = \"0s\"\n";
    edge e(cfg);
    std::vector<int> codes;
    for (int i = 0; i < 4; ++i) codes.push_back(get(e.port()).status);
    CHECK(codes == std::vector<int>{522, 200, 522, 200});
    for (auto const& p : a.peers()) CHECK(p == "127.0.0.2");
    CHECK(b.peers().empty());
    CHECK(e.log_contains("then TCP handshake from 127.0.0.3"));  // the failover kept the request's source
}
