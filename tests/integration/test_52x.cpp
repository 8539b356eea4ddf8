// The 52x family against real loopback origins, each with its timing window: a strict lower bound
// (never early) and a generous upper bound (shared CI machines are noisy).
#include "harness.hpp"

#include <catch2/catch.hpp>

using namespace edge522::test;
using namespace std::chrono_literals;

TEST_CASE("522 when the TCP handshake does not complete within connect", "[52x][522]") {
    blackholed_origin bh;
    edge e(simple_config({bh.address()}, "connect = \"300ms\""));
    auto r = get(e.port());
    CHECK(r.status == 522);
    CHECK(r.status_line == "HTTP/1.1 522 Connection Timed Out");
    CHECK(r.seconds >= 0.29);
    CHECK(r.seconds < 0.45 + 0.5);  // 0.45 s nominal; slack for a loaded CI machine
    CHECK(r.header("retry-after") == "120");
    CHECK(r.header("server") == "cloudflare");
    CHECK(r.header("edge522-diagnosis").find("not completed within 300ms") != std::string::npos);
    CHECK(r.body.find("522: Connection timed out") != std::string::npos);
}

TEST_CASE("522 fires at its own deadline, not the kernel's SYN give-up", "[52x][522]") {
    // 1.5 s is past the first SYN retransmit (1 s): the deadline must still hold.
    blackholed_origin bh;
    edge e(simple_config({bh.address()}, "connect = \"1500ms\""));
    auto r = get(e.port());
    CHECK(r.status == 522);
    CHECK(r.seconds >= 1.49);
    CHECK(r.seconds < 2.5);
}

TEST_CASE("521 at once when the origin refuses", "[52x][521]") {
    refusing_origin ro;
    edge e(simple_config({ro.address()}));
    auto r = get(e.port());
    CHECK(r.status == 521);
    CHECK(r.status_line == "HTTP/1.1 521 Web Server Is Down");
    CHECK(r.seconds < 0.5);
    CHECK(r.header("retry-after") == "120");
    CHECK(r.header("edge522-diagnosis").find("ECONNREFUSED") != std::string::npos);
}

TEST_CASE("524 when a connected origin does not answer within read", "[52x][524]") {
    origin silent(origin::behaviour::silent);
    edge e(simple_config({silent.address()}, "read = \"300ms\""));
    auto r = get(e.port());
    CHECK(r.status == 524);
    CHECK(r.status_line == "HTTP/1.1 524 A Timeout Occurred");
    CHECK(r.seconds >= 0.29);
    CHECK(r.seconds < 1.0);
    CHECK(r.header("retry-after") == "120");
}

TEST_CASE("per-origin read_timeout overrides [timeouts].read", "[52x][524]") {
    origin silent(origin::behaviour::silent);
    edge e(simple_config({silent.address()}, "read = \"30s\"", "read_timeout = \"200ms\""));
    auto r = get(e.port());
    CHECK(r.status == 524);
    CHECK(r.seconds >= 0.19);
    CHECK(r.seconds < 1.0);
}

TEST_CASE("520 for origins that answer garbage, nothing, or reset", "[52x][520]") {
    auto b = GENERATE(origin::behaviour::garbage, origin::behaviour::empty, origin::behaviour::reset);
    origin o(b);
    edge e(simple_config({o.address()}));
    auto r = get(e.port());
    CHECK(r.status == 520);
    CHECK(r.status_line == "HTTP/1.1 520 Web Server Returned an Unknown Error");
    CHECK(r.header("retry-after") == "60");
    CHECK(r.seconds < 1.0);
}

TEST_CASE("failover retries once on the next server after 521 and 522", "[52x][failover]") {
    origin healthy(origin::behaviour::healthy);
    SECTION("refused, then healthy") {
        refusing_origin ro;
        edge e(simple_config({ro.address(), healthy.address()}));
        auto r = get(e.port());
        CHECK(r.status == 200);
    }
    SECTION("blackholed, then healthy: 200 after the connect deadline") {
        blackholed_origin bh;
        edge e(simple_config({bh.address(), healthy.address()}, "connect = \"300ms\""));
        auto r = get(e.port());
        CHECK(r.status == 200);
        CHECK(r.seconds >= 0.29);
    }
    SECTION("failover = false answers the first failure") {
        refusing_origin ro;
        edge e(simple_config({ro.address(), healthy.address()}, "", "failover = false"));
        CHECK(get(e.port()).status == 521);
    }
    SECTION("only once: two refusing servers before a healthy one give 521") {
        refusing_origin r1, r2;
        edge e(simple_config({r1.address(), r2.address(), healthy.address()}));
        CHECK(get(e.port()).status == 521);
    }
}

TEST_CASE("no failover after 520 or 524", "[52x][failover]") {
    origin healthy(origin::behaviour::healthy);
    origin silent(origin::behaviour::silent);
    edge e(simple_config({silent.address(), healthy.address()}, "read = \"200ms\""));
    CHECK(get(e.port()).status == 524);
    CHECK(healthy.requests() == 0);
}

TEST_CASE("522 when the origin does not take the request within request_ack", "[52x][522]") {
    // The origin accepts but never reads, with a tiny receive window: the request body cannot be
    // ACKed/taken, and TCP_USER_TIMEOUT = request_ack aborts the connection.
    origin stalled(origin::behaviour::stall);
    edge e(simple_config({stalled.address()}, "request_ack = \"500ms\"\nwrite = \"20s\""));
    client c(e.port(), 15000ms);
    std::string body(32 * 1024 * 1024, 'x');
    auto t0 = clock_type::now();
    c.send("POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
    std::thread feeder([&] { try { c.send(body); } catch (...) {} });
    auto r = c.read_response();
    double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    c.shutdown();  // unblocks the feeder's send
    feeder.join();
    CHECK(r.status == 522);
    CHECK(s >= 0.49);
    CHECK(s < 5.0);
}
