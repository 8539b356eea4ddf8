// Idle keep-alive client connections: a connection that asked once parks at once (no coroutine, no
// buffer); a busy one waits for its next request in its coroutine until the worker's sweep parks
// it (about a second). Either way the idle timeout, a drain and the next request behave the same.
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <string>

using namespace edge522::test;
using namespace std::chrono_literals;

namespace {

// Requests back to back, as a load generator sends them: the connection becomes busy.
void burst(client& c, int n) {
    for (int i = 0; i < n; ++i) {
        auto r = c.request("GET /b" + std::to_string(i) + " HTTP/1.1\r\nHost: a.test\r\n\r\n");
        REQUIRE(r.status == 200);
        REQUIRE(r.body.find("GET /b" + std::to_string(i) + " ") == 0);
    }
}

} // namespace

TEST_CASE("a busy connection that falls idle is parked and serves its next request", "[client][idle]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    client c(e.port());
    burst(c, 20);
    std::this_thread::sleep_for(2500ms);  // two sweeps at least: parked
    auto r = c.request("GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.body.find("GET /after ") == 0);
    burst(c, 20);  // busy again, and parked again below
    std::this_thread::sleep_for(1500ms);
    c.send("GET /pipe1 HTTP/1.1\r\nHost: a.test\r\n\r\nGET /pipe2 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    CHECK(c.read_response().body.find("GET /pipe1 ") == 0);
    CHECK(c.read_response().body.find("GET /pipe2 ") == 0);
    CHECK(o.connections() == 1);
    CHECK(o.requests() == 43);
}

TEST_CASE("client_idle closes a keep-alive connection, busy or not, never early", "[client][idle]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "client_idle = \"700ms\""));
    client once(e.port());
    client busy(e.port());
    REQUIRE(once.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
    burst(busy, 20);
    CHECK_FALSE(once.closed_within(500ms));
    CHECK_FALSE(busy.closed_within(100ms));
    CHECK(once.closed_within(3000ms));
    CHECK(busy.closed_within(3000ms));

    // A busy connection parked by the sweep keeps its idle deadline: the timeout counts from the
    // last answer, not from the park.
    edge e2(simple_config({o.address()}, "client_idle = \"1500ms\""));
    client b2(e2.port());
    burst(b2, 20);
    CHECK_FALSE(b2.closed_within(1300ms));
    CHECK(b2.closed_within(3000ms));
}

TEST_CASE("a drain closes idle keep-alive connections at once, busy or parked", "[client][idle]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    client once(e.port());
    client busy(e.port());
    REQUIRE(once.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
    burst(busy, 20);
    e.signal(SIGTERM);
    CHECK(once.closed_within(2000ms));
    CHECK(busy.closed_within(2000ms));
    CHECK(e.wait_exit(5000ms) == 0);
}
