// The words of each connect failure (describe_connect): what the Edge522-Diagnosis header, the
// error page's owner section and the access log's detail say.
#include "proxy/diagnosis.hpp"
#include "proxy/origin_connector.hpp"

#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

using namespace edge522;
using namespace std::chrono_literals;

namespace {

connect_result outcome(failure why, boost::system::error_code ec, std::string source = "", bool firewalled = false) {
    connect_result r;
    r.why = why;
    r.ec = ec;
    r.dns_time = 12ms;
    r.connect_time = 19'000'123us;
    r.address = "127.0.0.1:3000";
    r.source = std::move(source);
    r.firewalled = firewalled;
    return r;
}

} // namespace

TEST_CASE("describe_connect: one sentence per connect failure", "[diagnosis]") {
    namespace error = boost::asio::error;
    config::origin_timeouts t;
    t.connect = 19s;
    CHECK(describe_connect(outcome(failure::connect_timeout, error::timed_out), t) ==
          "TCP handshake with 127.0.0.1:3000 not completed within 19s (no SYN-ACK; waited 19000 ms) (ETIMEDOUT)");
    CHECK(describe_connect(outcome(failure::connect_timeout, error::timed_out, "127.0.0.2", true), t) ==
          "TCP handshake from 127.0.0.2 with 127.0.0.1:3000 not completed within 19s (no SYN-ACK; waited 19000 ms); "
          "the emulated origin firewall drops 127.0.0.2 (not in firewall_allow) (ETIMEDOUT)");
    CHECK(describe_connect(outcome(failure::connect_refused, error::connection_refused), t) ==
          "connect to 127.0.0.1:3000 refused after 19000 ms (RST: nothing listening, or a firewall REJECT) "
          "(ECONNREFUSED)");
    CHECK(describe_connect(outcome(failure::connect_refused, error::connection_refused, "127.0.0.2", true), t) ==
          "connect from 127.0.0.2 to 127.0.0.1:3000 refused after 19000 ms by the emulated origin firewall "
          "(127.0.0.2 not in firewall_allow, firewall_action = \"reject\") (ECONNREFUSED)");
    CHECK(describe_connect(outcome(failure::unreachable, error::host_unreachable, "127.0.0.2"), t) ==
          "no route from 127.0.0.2 to 127.0.0.1:3000 after 19000 ms (EHOSTUNREACH)");
    CHECK(describe_connect(outcome(failure::dns_failed, error::host_not_found), t) ==
          "resolving 127.0.0.1:3000 failed after 12 ms (" + errno_name(error::host_not_found) + ")");
    CHECK(describe_connect(outcome(failure::connection_reset, error::connection_reset), t) ==
          "connect to 127.0.0.1:3000 failed after 19000 ms (ECONNRESET)");
}
