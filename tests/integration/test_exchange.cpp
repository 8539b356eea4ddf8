// One exchange, done right: hostile clients and broken origins against the real binary. Nothing a
// client or an origin sends may crash the edge, bypass its rules or make it answer wrongly.
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

using namespace edge522::test;
using namespace std::chrono_literals;

namespace {

// The edge is alive and serving: a plain request through it gets 200.
void still_serving(edge const& e) {
    auto r = get(e.port(), "/alive");
    CHECK(r.status == 200);
}

// Everything the edge sends on `c` until it closes (or resets) the connection.
std::string read_until_close(client& c) {
    std::string all;
    try {
        for (;;) {
            auto s = c.read_exactly(1);
            if (s.empty()) break;
            all += s;
        }
    } catch (...) {
    }
    return all;
}

response admin_get(std::uint16_t port, std::string const& target) {
    client c(port);
    return c.request("GET " + target + " HTTP/1.1\r\nHost: admin\r\n\r\n");
}

// How many TCP connections from the edge to `port` sit in CLOSE-WAIT (the origin closed, the edge
// did not notice). /proc/net/tcp: state 08.
int close_wait_to(std::uint16_t port) {
    std::ifstream in("/proc/net/tcp");
    std::string line;
    std::getline(in, line);
    int n = 0;
    char want[8];
    std::snprintf(want, sizeof want, ":%04X", port);
    while (std::getline(in, line)) {
        std::istringstream is(line);
        std::string sl, local, remote, state;
        is >> sl >> local >> remote >> state;
        if (remote.size() >= 5 && remote.substr(remote.size() - 5) == want && state == "08") ++n;
    }
    return n;
}

} // namespace

TEST_CASE("an origin header field over 64 KiB is a 520, not a crash", "[exchange][hostile]") {
    origin o(origin::behaviour::raw);
    o.raw_response = "HTTP/1.1 200 OK\r\nSet-Cookie: a=" + std::string(70'000, 'x') + "\r\nContent-Length: 2\r\n\r\nok";
    origin healthy(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\""));
    auto r = get(e.port());
    CHECK(r.status == 520);
    CHECK(r.header("edge522-diagnosis").find("over 65000 bytes") != std::string::npos);
    CHECK(e.log_contains("failure=response_header_too_large"));
    // The process lives on: the admin API and another request still answer.
    CHECK(admin_get(e.admin_port(), "/healthz").status == 200);
    CHECK(get(e.port()).status == 520);
    CHECK(e.log().find("exception") == std::string::npos);
}

TEST_CASE("a head over max_response_header is a 520 as well", "[exchange][hostile]") {
    origin o(origin::behaviour::raw);
    std::string head = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 40; ++i) head += "X-F" + std::to_string(i) + ": " + std::string(1000, 'v') + "\r\n";
    o.raw_response = head + "Content-Length: 0\r\n\r\n";
    edge e(simple_config({o.address()}, "", "", "max_response_header = \"16KiB\""));
    auto r = get(e.port());
    CHECK(r.status == 520);
    CHECK(e.log_contains("failure=response_header_too_large"));
}

TEST_CASE("a client header field over 64 KiB is a 431 with a large max_request_header", "[exchange][hostile]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "max_request_header = \"256KiB\""));
    client c(e.port());
    auto r = c.request("GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: " + std::string(70'000, 'b') + "\r\n\r\n");
    CHECK(r.status == 431);
    CHECK(e.log_contains("\"GET /\" 431"));
    still_serving(e);
    CHECK(e.log().find("exception") == std::string::npos);
}

TEST_CASE("an X-Forwarded-For that overflows once extended is a 431, and the connection is released",
          "[exchange][hostile]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "max_request_header = \"256KiB\"", "listen = \"127.0.0.1:0\""));
    {
        client c(e.port());
        auto r = c.request("GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: " + std::string(64'990, '1') + "\r\n\r\n");
        CHECK(r.status == 431);
        CHECK(c.closed_within(2s));
    }
    CHECK(o.requests() == 0);
    // connections_active comes back down (nothing stuck in CLOSE-WAIT).
    bool back = false;
    for (int i = 0; i < 30 && !back; ++i) {
        auto m = admin_get(e.admin_port(), "/metrics");
        back = m.body.find("edge522_connections_active 0\n") != std::string::npos;
        if (!back) std::this_thread::sleep_for(100ms);
    }
    CHECK(back);
    still_serving(e);
}

TEST_CASE("an X-Forwarded-For that overflows is a 431 on a pooled origin connection too", "[exchange][hostile]") {
    // The head is built once there is a connection: with a pooled one waiting, the overflow is found
    // after it is taken. The origin still gets nothing, and the next request is served.
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "max_request_header = \"256KiB\"", "listen = \"127.0.0.1:0\""));
    CHECK(get(e.port(), "/").status == 200);  // leaves a pooled origin connection
    {
        client c(e.port());
        auto r = c.request("GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: " + std::string(64'990, '1') + "\r\n\r\n");
        CHECK(r.status == 431);
        CHECK(c.closed_within(2s));
    }
    CHECK(o.requests() == 1);
    CHECK(get(e.port(), "/").status == 200);
    CHECK(o.requests() == 2);
    still_serving(e);
}

TEST_CASE("absolute-form targets are routed by their authority and forwarded in origin-form", "[exchange][target]") {
    origin open(origin::behaviour::healthy);
    origin blocked(origin::behaviour::healthy);
    std::string cfg = "[edge]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[admin]\nlisten = \"\"\n"
                      "[[origins]]\nname = \"blocked\"\nhosts = [\"blocked.test\"]\nservers = [\"" + blocked.address() +
                      "\"]\naccess = { block = [\"127.0.0.0/8\"] }\n"
                      "[[origins]]\nname = \"open\"\nhosts = [\"*\"]\nservers = [\"" + open.address() + "\"]\n";
    edge e(cfg);
    client c(e.port());
    // The authority wins over Host: the block rule of "blocked" applies.
    auto r = c.request("GET http://blocked.test/x HTTP/1.1\r\nHost: open.test\r\n\r\n");
    CHECK(r.status == 403);
    CHECK(blocked.requests() == 0);
    CHECK(open.requests() == 0);
    // An open one reaches its origin in origin-form with the matching Host.
    client c2(e.port());
    auto ok = c2.request("GET http://Other.Test:8080/p/q?x=1 HTTP/1.1\r\nHost: ignored.test\r\n\r\n");
    REQUIRE(ok.status == 200);
    CHECK(ok.body.find("GET /p/q?x=1 HTTP/1.1\r\n") == 0);
    CHECK(ok.body.find("Host: Other.Test:8080\r\n") != std::string::npos);
    CHECK(ok.body.find("ignored.test") == std::string::npos);
    auto bare = client(e.port()).request("GET http://other.test?y=2 HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(bare.body.find("GET /?y=2 HTTP/1.1\r\n") == 0);
    // Other schemes, userinfo, and a missing host are refused.
    // A path right after an IP literal, without "/" (Boost.URL takes it; found by fuzz_request_head).
    auto const before = open.requests();
    for (std::string bad : {"ftp://other.test/x", "http://user:pw@other.test/x", "http:///x", "gopher:x",
                            "http://[::1]x.test?y=1", "http://[::1]:8080x"}) {
        INFO(bad);
        CHECK(client(e.port()).request("GET " + bad + " HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 400);
    }
    CHECK(open.requests() == before);
    CHECK(client(e.port()).request("CONNECT other.test:443 HTTP/1.1\r\nHost: other.test:443\r\n\r\n").status == 501);
}

TEST_CASE("a Host that is not a valid host[:port] is a 400, not a 530", "[exchange][target]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    for (std::string bad : {"a b.test", "<script>alert(1)</script>", "a/b", "user@a.test", "a.test:99999", "a.test:x"}) {
        INFO(bad);
        auto r = client(e.port()).request("GET / HTTP/1.1\r\nHost: " + bad + "\r\n\r\n");
        CHECK(r.status == 400);
    }
    CHECK(client(e.port()).request("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").status == 200);
    CHECK(o.requests() == 1);
}

TEST_CASE("a request target over max_url is a 414", "[exchange][target]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "max_url = \"1KiB\""));
    auto r = client(e.port()).request("GET /" + std::string(2000, 'a') + " HTTP/1.1\r\nHost: a.test\r\n\r\n");
    CHECK(r.status == 414);
    CHECK(r.status_line == "HTTP/1.1 414 URI Too Long");
    CHECK(o.requests() == 0);
}

TEST_CASE("repeated X-Forwarded-For and CDN-Loop lines are combined: Transfer-Encoding goes as it came",
          "[exchange][headers]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    client c(e.port());
    auto r = c.request("GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 203.0.113.1\r\nCDN-Loop: a\r\n"
                       "X-Forwarded-For: 203.0.113.2\r\nCDN-Loop: b\r\n\r\n");
    REQUIRE(r.status == 200);
    CHECK(r.body.find("X-Forwarded-For: 203.0.113.1, 203.0.113.2, 127.0.0.1\r\n") != std::string::npos);
    CHECK(r.body.find("CDN-Loop: a, b, cloudflare\r\n") != std::string::npos);

    origin echo(origin::behaviour::raw);
    echo.raw_response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    edge e2(simple_config({echo.address()}));
    client c2(e2.port());
    auto g = c2.request("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    CHECK(g.status == 200);
    CHECK(echo.last_head().find("Transfer-Encoding: gzip, chunked\r\n") != std::string::npos);
}

TEST_CASE("an origin's early final response reaches the uploading client", "[exchange][answers]") {
    origin o(origin::behaviour::early);
    o.raw_response = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large";
    edge e(simple_config({o.address()}));
    client c(e.port());
    std::string const body(4 * 1024 * 1024, 'u');
    std::thread uploader([&] {
        c.send("POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
        try {
            c.send(body);
        } catch (...) {
        }
    });
    auto r = c.read_response();
    uploader.join();
    CHECK(r.status == 413);
    CHECK(r.body == "too large");
    CHECK(r.header("cf-ray").size() > 0);
}

TEST_CASE("an error answer during an upload is read by the client, not lost to a reset", "[exchange][answers]") {
    refusing_origin down;
    edge e(simple_config({down.address()}));
    for (int round = 0; round < 3; ++round) {
        client c(e.port());
        std::string const body(2 * 1024 * 1024, 'u');
        std::thread uploader([&] {
            c.send("PUT /big HTTP/1.1\r\nHost: a.test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
            try {
                c.send(body);
            } catch (...) {
            }
        });
        std::this_thread::sleep_for(50ms);
        auto r = c.read_response();
        uploader.join();
        CHECK(r.status == 521);
        CHECK(r.header("connection") == "close");
    }
}

TEST_CASE("an idle pooled connection the origin closes or resets leaves the pool at the next sweep", "[exchange][pool]") {
    origin o(origin::behaviour::close_after);  // says keep-alive, then closes
    edge e(simple_config({o.address()}, "", "origin_idle_timeout = \"1h\""));
    client c(e.port());
    CHECK(c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
    // The pool's sweep (every second) watches what was parked since the last one: the FIN that
    // came meanwhile is seen then, and the connection closed (no CLOSE_WAIT left behind).
    auto const until = std::chrono::steady_clock::now() + 5s;
    while (close_wait_to(o.port()) != 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
    CHECK(close_wait_to(o.port()) == 0);  // the FIN was noticed while the connection sat idle
    CHECK(c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
    CHECK(o.connections() == 2);

    origin r(origin::behaviour::raw);
    r.raw_response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
    edge e2(simple_config({r.address()}, "", "origin_idle_timeout = \"1h\""));
    client c2(e2.port());
    CHECK(c2.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
    CHECK(c2.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
    CHECK(r.connections() == 1);  // a live pooled connection is reused
}

// A read that empties a socket lets the next read on it wait for epoll without trying a recv first
// (proxy/drained_read.hpp), but only when no FIN came with the bytes: a FIN read with them raises no
// new edge, and a read waiting for one would wait for ever.
TEST_CASE("a pooled origin connection whose answer comes with its FIN is read to the end", "[exchange][pool]") {
    origin o(origin::behaviour::raw);
    o.raw_response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
    o.raw_close_at = 3;  // the third answer of each connection: its end is the close, in the same segment
    o.raw_last = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto-the-end";
    edge e(simple_config({o.address()}, "read = \"60s\"", "origin_idle_timeout = \"1h\""));
    client c(e.port(), 5s);  // a missed FIN would wait for the 60 s read timeout
    for (int i = 0; i < 2; ++i) CHECK(c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").body == "ok");
    auto const t0 = std::chrono::steady_clock::now();
    auto const third = c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    CHECK(third.status == 200);
    CHECK(third.body == "to-the-end");
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    CHECK(c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").body == "ok");  // on a new connection
    CHECK(o.connections() == 2);

    // The same with a length-delimited last answer: the connection is dead when the next request
    // comes, and that request is served (on a new connection) without waiting.
    origin l(origin::behaviour::raw);
    l.raw_response = o.raw_response;
    l.raw_close_at = 3;
    l.raw_last = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nlast";
    edge e2(simple_config({l.address()}, "read = \"60s\"", "origin_idle_timeout = \"1h\""));
    client c2(e2.port(), 5s);
    std::string bodies;
    for (int i = 0; i < 5; ++i) bodies += c2.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").body + " ";
    CHECK(bodies == "ok ok last ok ok ");
    CHECK(l.connections() == 2);
}

TEST_CASE("a kept-alive client whose request comes with its FIN is answered and closed at once", "[exchange]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    client c(e.port(), 5s);
    for (int i = 0; i < 3; ++i) CHECK(c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
    c.send_with_fin("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    CHECK(c.read_response().status == 200);
    // At once, not when the next sweep parks the connection (about a second): the FIN was read with
    // the request, and the wait for a next request must not miss it.
    CHECK(c.closed_within(400ms));
}

TEST_CASE("a stale pooled connection is replaced for requests with a body too", "[exchange][pool]") {
    origin o(origin::behaviour::close_after);
    edge e(simple_config({o.address()}, "", "origin_idle_timeout = \"1h\""));
    client c(e.port());
    for (int i = 0; i < 20; ++i) {
        auto r = c.request("POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello");
        CHECK(r.status == 200);
        auto chunked = c.request("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "5\r\nhello\r\n0\r\n\r\n");
        CHECK(chunked.status == 200);
    }
}

TEST_CASE("a request whose pooled connection dies unanswered is replayed with its body", "[exchange][pool]") {
    origin o(origin::behaviour::one_shot);
    edge e(simple_config({o.address()}, "", "origin_idle_timeout = \"1h\""));
    client c(e.port());
    std::string const body(20'000, 'b');
    for (int i = 0; i < 3; ++i) {
        auto r = c.request("POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 20000\r\n\r\n" + body);
        CHECK(r.status == 200);
        CHECK(r.body == "20000");  // the whole body reached the origin on the new connection
        auto ch = c.request("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        CHECK(ch.status == 200);
        CHECK(ch.body == "5");
    }
    CHECK(o.connections() == 6);
}

TEST_CASE("origins that share a server never borrow each other's connections", "[exchange][pool]") {
    origin o(origin::behaviour::healthy);
    std::string cfg = "[edge]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[admin]\nlisten = \"\"\n"
                      "[[origins]]\nname = \"a\"\nhosts = [\"a.test\"]\nservers = [\"" + o.address() +
                      "\"]\nrequest_ack_timeout = \"10s\"\n"
                      "[[origins]]\nname = \"b\"\nhosts = [\"b.test\"]\nservers = [\"" + o.address() +
                      "\"]\nrequest_ack_timeout = \"20s\"\n"
                      "[[origins]]\nname = \"c\"\nhosts = [\"c.test\"]\nservers = [\"" + o.address() +
                      "\"]\nrequest_ack_timeout = \"10s\"\n";
    edge e(cfg);
    client c(e.port());
    CHECK(c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
    CHECK(c.request("GET / HTTP/1.1\r\nHost: b.test\r\n\r\n").status == 200);
    CHECK(o.connections() == 2);  // b's request_ack differs: a connection of its own
    CHECK(c.request("GET / HTTP/1.1\r\nHost: c.test\r\n\r\n").status == 200);
    CHECK(o.connections() == 2);  // c's connections are interchangeable with a's
}

TEST_CASE("protocol details: 204/304 without Content-Length, Date added, HTTP/1.1 status line", "[exchange][protocol]") {
    origin nc(origin::behaviour::raw);
    nc.raw_response = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
    edge e(simple_config({nc.address()}));
    client c(e.port());
    auto r = c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    CHECK(r.status == 204);
    CHECK(r.header("content-length").empty());
    CHECK(std::regex_match(r.header("date"), std::regex("[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT")));
    // An HTTP/1.0 client gets an HTTP/1.1 status line and no 100 Continue.
    client c10(e.port());
    c10.send("POST / HTTP/1.0\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
    auto r10 = c10.read_response();
    CHECK(r10.status_line == "HTTP/1.1 204 No Content");
    // And so do the edge's own answers.
    auto page = client(e.port()).request("GET /cdn-cgi/error/522 HTTP/1.0\r\nHost: a.test\r\n\r\n");
    CHECK(page.status_line == "HTTP/1.1 522 Connection Timed Out");
}

TEST_CASE("an origin status line without a reason phrase is accepted", "[exchange][protocol]") {
    origin o(origin::behaviour::raw);
    o.raw_response = "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok";
    edge e(simple_config({o.address()}));
    auto r = get(e.port());
    CHECK(r.status == 200);
    CHECK(r.status_line == "HTTP/1.1 200 OK");
    CHECK(r.body == "ok");
}

TEST_CASE("an unsolicited 101 is a 520", "[exchange][protocol]") {
    origin o(origin::behaviour::raw);
    o.raw_response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
    edge e(simple_config({o.address()}));
    auto r = get(e.port());
    CHECK(r.status == 520);
    CHECK(r.header("edge522-diagnosis").find("101") != std::string::npos);
}

TEST_CASE("trailers are relayed when the client sent TE: trailers, dropped otherwise", "[exchange][protocol]") {
    origin o(origin::behaviour::raw);
    o.raw_response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                     "2\r\nok\r\n0\r\nX-Checksum: abc\r\n\r\n";
    edge e(simple_config({o.address()}));
    auto raw_exchange = [&](std::string const& extra) {
        client c(e.port());
        c.send("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n" + extra + "\r\n");
        return read_until_close(c);
    };
    auto with = raw_exchange("TE: trailers\r\n");
    CHECK(with.find("0\r\nX-Checksum: abc\r\n\r\n") != std::string::npos);
    CHECK(with.find("Trailer: X-Checksum\r\n") != std::string::npos);
    auto without = raw_exchange("");
    CHECK(without.find("X-Checksum: abc") == std::string::npos);
    CHECK(without.find("0\r\n\r\n") != std::string::npos);
}

TEST_CASE("a trailer field over 64 KiB cuts the relayed response: never relayed and no crash", "[exchange][hostile]") {
    origin o(origin::behaviour::raw);
    o.raw_response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Big\r\n\r\n"
                     "2\r\nok\r\n0\r\nX-Big: " + std::string(70'000, 't') + "\r\n\r\n";
    edge e(simple_config({o.address()}, "", "", "max_response_header = \"256KiB\"", "listen = \"127.0.0.1:0\""));
    client c(e.port());
    c.send("GET / HTTP/1.1\r\nHost: a.test\r\nTE: trailers\r\n\r\n");
    auto const all = read_until_close(c);
    CHECK(all.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(all.find("2\r\nok\r\n") != std::string::npos);
    CHECK(all.find("X-Big: t") == std::string::npos);  // the head was out: the connection is cut instead
    CHECK(all.find("0\r\n") == std::string::npos);
    CHECK(e.log_contains("cut=origin_failed"));
    CHECK(admin_get(e.admin_port(), "/healthz").status == 200);  // the process lives on
    CHECK(e.log().find("exception") == std::string::npos);
}

TEST_CASE("a stalled request body gets 408 at client_header", "[exchange][client]") {
    origin o(origin::behaviour::stall);  // connected, never reads, never answers
    edge e(simple_config({o.address()}, "client_header = \"300ms\""));
    client c(e.port());
    auto t0 = clock_type::now();
    c.send("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    auto r = c.read_response();
    double const s = std::chrono::duration<double>(clock_type::now() - t0).count();
    CHECK(r.status == 408);
    CHECK(s >= 0.29);
    CHECK(s < 3.0);
    CHECK(e.log_contains("failure=request_timeout"));
}

TEST_CASE("tunnels: half-close relayed, idle ones closed at tunnel_idle, busy ones kept", "[exchange][tunnel]") {
    origin o(origin::behaviour::upgrade);
    edge e(simple_config({o.address()}, "tunnel_idle = \"400ms\""));
    std::string const upgrade = "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    {
        // Half-close: the client's FIN reaches the origin, whose echo still comes back, then its FIN.
        client c(e.port());
        auto r = c.request(upgrade, true);
        REQUIRE(r.status == 101);
        c.send("ping");
        CHECK(c.read_exactly(4) == "ping");
        c.send("last");
        c.shutdown_send();
        CHECK(c.read_exactly(4) == "last");
        CHECK(c.closed_within(2s));  // the origin saw our FIN and closed: its FIN came back
    }
    {
        // Traffic keeps a tunnel open past tunnel_idle; silence closes it.
        client c(e.port());
        REQUIRE(c.request(upgrade, true).status == 101);
        for (int i = 0; i < 6; ++i) {
            std::this_thread::sleep_for(150ms);
            c.send("x");
            CHECK(c.read_exactly(1) == "x");
        }
        auto t0 = clock_type::now();
        CHECK(c.closed_within(3s));
        double const s = std::chrono::duration<double>(clock_type::now() - t0).count();
        CHECK(s >= 0.39);
    }
}

TEST_CASE("a drain lets an open tunnel run until drain_timeout then cuts it", "[exchange][tunnel]") {
    // A tunnel is an exchange in flight (SPEC section 2): bytes still flow both ways while the edge
    // drains; at drain_timeout it is cut and logged cut=drain. (It used to be closed at once, with
    // nothing in its log line to say why.)
    origin o(origin::behaviour::upgrade);
    edge e(simple_config({o.address()}, "", "", "drain_timeout = \"1s\""));
    client c(e.port());
    REQUIRE(c.request("GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true)
                .status == 101);
    auto const t0 = clock_type::now();
    e.signal(SIGTERM);
    std::this_thread::sleep_for(300ms);
    c.send("draining");
    CHECK(c.read_exactly(8) == "draining");
    CHECK(c.closed_within(3s));
    CHECK(e.wait_exit() == 0);
    double const s = std::chrono::duration<double>(clock_type::now() - t0).count();
    CHECK(s >= 0.99);
    CHECK(s < 3.0);
    auto const log = e.log();
    auto const at = log.find("\"GET /ws\" 101");
    REQUIRE(at != std::string::npos);
    CHECK(log.substr(at, log.find('\n', at) - at).find("cut=drain") != std::string::npos);
}

TEST_CASE("tunnels: one idle past tunnel_idle is logged cut=tunnel_idle", "[exchange][tunnel]") {
    origin o(origin::behaviour::upgrade);
    edge e(simple_config({o.address()}, "tunnel_idle = \"300ms\""));
    client c(e.port());
    REQUIRE(c.request("GET /idle-ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true)
                .status == 101);
    CHECK(c.closed_within(3s));
    CHECK(e.log_contains("cut=tunnel_idle"));
}

TEST_CASE("an Upgrade in an HTTP/1.0 request is ignored", "[exchange][tunnel]") {
    // RFC 9110 7.8: a server MUST ignore it. The request goes to the origin as a plain one, without
    // the Upgrade (hop-by-hop), and its answer is relayed as usual.
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    client c(e.port());
    auto r = c.request("GET /ws HTTP/1.0\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(o.last_head().find("websocket") == std::string::npos);
}

TEST_CASE("every answer is logged and counted: the edge's own 400/408/431/501 and previews apart", "[exchange][log]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\""));
    client(e.port()).request("GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    client(e.port()).request("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\n\r\n");
    client(e.port()).request("GET /cdn-cgi/error/522 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    CHECK(e.log_contains("\"GET /\" 400"));
    CHECK(e.log_contains("\"POST /\" 501"));
    CHECK(e.log_contains("\"GET /cdn-cgi/error/522\" 522 origin=cdn-cgi"));
    auto m = admin_get(e.admin_port(), "/metrics").body;
    CHECK(m.find("edge522_requests_total{origin=\"cdn-cgi\",code=\"522\"} 1") != std::string::npos);
    CHECK(m.find("edge522_requests_total{origin=\"\",code=\"400\"} 1") != std::string::npos);
    CHECK(m.find("edge522_requests_total{origin=\"\",code=\"501\"} 1") != std::string::npos);
    CHECK(m.find("origin=\"app\",code=\"522\"") == std::string::npos);
}

TEST_CASE("fuzz findings: HTTP/1.0 without Host gets a Host toward the origin: a TE list with junk is refused",
          "[exchange][fuzz]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    auto r = client(e.port()).request("GET / HTTP/1.0\r\n\r\n");
    REQUIRE(r.status == 200);
    CHECK(r.body.find("Host: " + o.address() + "\r\n") != std::string::npos);
    auto junk = client(e.port()).request("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding:\xdd\r\n"
                                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    CHECK(junk.status == 400);
    auto unknown = client(e.port()).request("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: br, chunked\r\n\r\n0\r\n\r\n");
    CHECK(unknown.status == 501);
    auto twice = client(e.port()).request("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n");
    CHECK(twice.status == 501);
    CHECK(o.requests() == 1);
}

TEST_CASE("fuzz findings: an origin's invalid Transfer-Encoding is a 520, a folded value over 4 KiB says so",
          "[exchange][fuzz]") {
    origin o(origin::behaviour::raw);
    o.raw_response = "HTTP/1.1 200 OK\r\nTransfer-Encoding:\xdd\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    edge e(simple_config({o.address()}));
    auto r = get(e.port());
    CHECK(r.status == 520);
    CHECK(r.header("edge522-diagnosis").find("invalid Transfer-Encoding") != std::string::npos);
    for (std::string te : {"chunked, gzip", "gzip", "chunked,,,OK", "br, chunked"}) {
        INFO(te);
        origin bad(origin::behaviour::raw);
        bad.raw_response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + te + "\r\nConnection: close\r\n\r\nok";
        bad.raw_close = true;
        edge eb(simple_config({bad.address()}));
        CHECK(get(eb.port()).status == 520);
    }

    origin f(origin::behaviour::raw);
    f.raw_response = "HTTP/1.1 200 OK\r\nX-Folded: a\r\n " + std::string(5000, 'b') + "\r\nContent-Length: 0\r\n\r\n";
    edge e2(simple_config({f.address()}));
    auto folded = get(e2.port());
    CHECK(folded.status == 520);
    CHECK(folded.header("edge522-diagnosis").find("folded") != std::string::npos);
}

TEST_CASE("hostile pass: a status outside 100-599 is a 520 at once, never an interim answer", "[exchange][hostile]") {
    // "HTTP/1.1 099" was taken for an interim response: the edge waited for another head (a 524
    // after `read`), or relayed the 200 behind it.
    struct one {
        std::string raw;
        int status;
    };
    for (auto const& c : {one{"HTTP/1.1 099 X\r\nContent-Length: 2\r\n\r\nok", 520},
                          one{"HTTP/1.1 000 X\r\nContent-Length: 2\r\n\r\nok", 520},
                          one{"HTTP/1.1 099 X\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 520},
                          one{"HTTP/1.1 600 X\r\nContent-Length: 2\r\n\r\nok", 520},
                          one{"HTTP/1.1 999 X\r\nContent-Length: 2\r\n\r\nok", 520},
                          one{"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 599 X\r\nContent-Length: 2\r\n\r\nok",
                              599}}) {
        INFO(c.raw);
        origin o(origin::behaviour::raw);
        o.raw_response = c.raw;
        edge e(simple_config({o.address()}, "read = \"10s\""));
        auto r = get(e.port());
        CHECK(r.status == c.status);
        CHECK(r.seconds < 3.0);
        if (c.status == 520) CHECK(r.header("edge522-diagnosis").find("outside 100-599") != std::string::npos);
    }
}

TEST_CASE("hostile pass: a broken first chunk that came with the head is a 520, not a silent close",
          "[exchange][hostile]") {
    // The head waits for the body's first bytes to leave with them; when those were already
    // broken the client got nothing at all (logged as a 200 cut short).
    for (std::string size : {"zz", "ffffffffffffffffff"}) {
        INFO(size);
        origin o(origin::behaviour::raw);
        o.raw_response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size + "\r\nhello\r\n0\r\n\r\n";
        edge e(simple_config({o.address()}));
        client c(e.port());
        auto r = c.request("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n");
        CHECK(r.status == 520);
        CHECK(r.header("edge522-diagnosis").find("mid-body") != std::string::npos);
        CHECK(r.header("connection") != "close");
        // The client's connection serves on; the broken origin connection was not pooled.
        CHECK(c.request("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n").status == 520);
        CHECK(o.connections() == 2);
    }
}
