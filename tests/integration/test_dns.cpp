// 530 / 1016 for names that do not resolve, with resolution under its own deadline. The edge runs
// in a private mount namespace whose /etc/resolv.conf points at loopback, so no query ever leaves
// the machine (needs root for unshare -m; skipped with a warning otherwise).
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace edge522::test;
using namespace std::chrono_literals;

namespace {

bool can_unshare() {
    if (::geteuid() != 0) return false;
    return std::system("unshare -m true 2>/dev/null") == 0;
}

std::vector<std::string> resolv_wrapper(std::string const& resolv_text) {
    auto resolv = write_temp("resolv.conf", resolv_text);
    return {"unshare", "-m", "sh", "-c", "mount --bind " + resolv + " /etc/resolv.conf && exec \"$0\" \"$@\""};
}

} // namespace

TEST_CASE("530 with error 1016 when an origin name does not resolve", "[52x][530][dns]") {
    if (!can_unshare()) {
        WARN("skipped: needs root and unshare -m for a loopback-only resolver");
        return;
    }
    // Nothing listens on 127.0.0.1:53: every lookup fails at once on loopback.
    edge e(simple_config({"origin-does-not-exist.invalid:80"}), {},
           resolv_wrapper("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"));
    auto r = get(e.port(), "/", "a.test", "Accept: application/json\r\n");
    CHECK(r.status == 530);
    CHECK(r.status_line == "HTTP/1.1 530 Origin DNS Error");
    CHECK(r.body.find("\"error_code\":1016") != std::string::npos);
    CHECK(r.header("retry-after").empty());
    CHECK(r.seconds < 3.0);
}

TEST_CASE("name resolution has its own deadline (timeouts.dns)", "[52x][530][dns]") {
    if (!can_unshare()) {
        WARN("skipped: needs root and unshare -m for a loopback-only resolver");
        return;
    }
    // A DNS server on 127.0.0.2:53 that never answers: the resolver would wait 5 s.
    int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(53);
    ::inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
    if (::bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(udp);
        WARN("skipped: 127.0.0.2:53 is taken");
        return;
    }
    edge e(simple_config({"slow-dns.invalid:80"}, "dns = \"300ms\""), {},
           resolv_wrapper("nameserver 127.0.0.2\noptions timeout:5 attempts:1\n"));
    auto r = get(e.port());
    ::close(udp);
    CHECK(r.status == 530);
    CHECK(r.seconds >= 0.29);
    CHECK(r.seconds < 1.5);
    CHECK(r.header("edge522-diagnosis").find("resolving") != std::string::npos);
}

TEST_CASE("localhost names resolve through /etc/hosts and connect", "[dns]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({"localhost:" + std::to_string(o.port())}));
    CHECK(get(e.port()).status == 200);
}
