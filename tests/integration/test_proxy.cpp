// Proxying a healthy origin: headers both ways, keep-alive and pipelining, streamed bodies.
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace edge522::test;
using namespace std::chrono_literals;

TEST_CASE("the origin sees Cloudflare's request headers, the client sees Server and the same CF-Ray", "[proxy]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    client c(e.port());
    auto r = c.request("GET /hello?x=1 HTTP/1.1\r\nHost: App.Test:8080\r\nX-Forwarded-For: 203.0.113.9\r\n"
                       "X-Forwarded-Proto: https\r\nCDN-Loop: other\r\nConnection: keep-alive, X-Secret\r\n"
                       "X-Secret: hop\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic eA==\r\n"
                       "TE: trailers\r\nUser-Agent: t/1\r\n\r\n");
    REQUIRE(r.status == 200);
    auto const& seen = r.body;  // the healthy origin answers with the head it received
    auto ray = r.header("cf-ray");
    CHECK(std::regex_match(ray, std::regex("[0-9a-f]{16}-LOC")));
    CHECK(r.header("server") == "cloudflare");
    CHECK(r.header("x-accel-redirect").empty());
    CHECK(r.header("keep-alive").empty());
    CHECK(seen.find("GET /hello?x=1 HTTP/1.1\r\n") == 0);
    CHECK(seen.find("CF-Ray: " + ray + "\r\n") != std::string::npos);
    CHECK(seen.find("CF-Connecting-IP: 127.0.0.1\r\n") != std::string::npos);
    CHECK(seen.find("X-Forwarded-For: 203.0.113.9, 127.0.0.1\r\n") != std::string::npos);
    CHECK(seen.find("X-Forwarded-Proto: http\r\n") != std::string::npos);
    CHECK(seen.find("CF-Visitor: {\"scheme\":\"http\"}\r\n") != std::string::npos);
    CHECK(seen.find("CDN-Loop: other, cloudflare\r\n") != std::string::npos);
    CHECK(seen.find("CF-IPCountry: XX\r\n") != std::string::npos);
    CHECK(seen.find("Host: App.Test:8080\r\n") != std::string::npos);
    CHECK(seen.find("User-Agent: t/1\r\n") != std::string::npos);
    CHECK(seen.find("X-Secret") == std::string::npos);
    CHECK(seen.find("Proxy-Authorization") == std::string::npos);
    CHECK(seen.find("TE:") == std::string::npos);
    CHECK(seen.find("Keep-Alive") == std::string::npos);
    CHECK(e.log_contains("\"GET /hello?x=1\" 200 origin=app"));
}

TEST_CASE("keep-alive on both sides: one client and one origin connection for many requests", "[proxy]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    client c(e.port());
    for (int i = 0; i < 5; ++i) {
        auto r = c.request("GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: a.test\r\n\r\n");
        REQUIRE(r.status == 200);
        CHECK(r.body.find("GET /" + std::to_string(i) + " ") == 0);
    }
    CHECK(o.requests() == 5);
    CHECK(o.connections() == 1);
}

TEST_CASE("pipelined requests are answered in order", "[proxy]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    client c(e.port());
    c.send("GET /first HTTP/1.1\r\nHost: a.test\r\n\r\nGET /second HTTP/1.1\r\nHost: a.test\r\n\r\n"
           "GET /cdn-cgi/error/522 HTTP/1.1\r\nHost: a.test\r\n\r\nGET /third HTTP/1.1\r\nHost: a.test\r\n\r\n");
    auto r1 = c.read_response();
    auto r2 = c.read_response();
    auto r3 = c.read_response();
    auto r4 = c.read_response();
    CHECK(r1.body.find("GET /first ") == 0);
    CHECK(r2.body.find("GET /second ") == 0);
    CHECK(r3.status == 522);
    CHECK(r4.body.find("GET /third ") == 0);
}

TEST_CASE("a pooled origin connection the origin closed is replaced, not answered with 520", "[proxy]") {
    origin o(origin::behaviour::close_after);  // says keep-alive, then closes anyway
    edge e(simple_config({o.address()}, "", "origin_idle_timeout = \"1h\""));
    client c(e.port());
    for (int i = 0; i < 3; ++i) {
        CHECK(c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
        std::this_thread::sleep_for(20ms);
    }
    // Immediately after the close too: the retry path for a connection that died in the pool.
    CHECK(c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
    CHECK(c.request("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
    CHECK(o.connections() == 5);
}

TEST_CASE("request bodies stream to the origin, chunked and with Content-Length", "[proxy][body]") {
    origin o(origin::behaviour::echo_size);
    edge e(simple_config({o.address()}));
    client c(e.port());
    std::string body(3 * 1024 * 1024 + 17, 'b');
    auto r = c.request("POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\n\r\n" + body);
    CHECK(r.status == 200);
    CHECK(r.body == std::to_string(body.size()));
    std::string chunked;
    std::size_t total = 0;
    for (int i = 0; i < 40; ++i) {
        std::string part(10000 + static_cast<std::size_t>(i), 'c');
        char sz[16];
        std::snprintf(sz, sizeof sz, "%zx\r\n", part.size());
        chunked += sz + part + "\r\n";
        total += part.size();
    }
    chunked += "0\r\n\r\n";
    r = c.request("POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked);
    CHECK(r.status == 200);
    CHECK(r.body == std::to_string(total));
}

TEST_CASE("Expect: 100-continue is answered by the edge", "[proxy][body]") {
    origin o(origin::behaviour::echo_size);
    edge e(simple_config({o.address()}));
    client c(e.port());
    c.send("POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    auto cont = c.read_response();
    CHECK(cont.status == 100);
    auto r = c.request("hello");
    CHECK(r.status == 200);
    CHECK(r.body == "5");
    CHECK(o.last_head().find("Expect") == std::string::npos);
}

TEST_CASE("a chunked response streams through as chunked: HEAD gets no body", "[proxy][body]") {
    origin o(origin::behaviour::stream);
    o.stream_bytes = 1000000;
    o.stream_chunked = true;
    edge e(simple_config({o.address()}));
    client c(e.port());
    auto r = c.request("GET /big HTTP/1.1\r\nHost: a.test\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.header("transfer-encoding") == "chunked");
    CHECK(r.body.size() == 1000000);
    auto h = c.request("HEAD /big HTTP/1.1\r\nHost: a.test\r\n\r\n", true);
    CHECK(h.status == 200);
    auto again = c.request("GET /big HTTP/1.1\r\nHost: a.test\r\n\r\n");
    CHECK(again.body.size() == 1000000);
}

TEST_CASE("a 200 MiB download does not grow the edge's RSS by more than a few MiB", "[proxy][body][memory]") {
    origin o(origin::behaviour::stream);
    o.stream_bytes = 200ull * 1024 * 1024;
    edge e(simple_config({o.address()}));
    CHECK(get(e.port(), "/warm").status == 200);  // warm up allocator and pool with a small one
    o.stream_bytes = 200ull * 1024 * 1024;
    long const before = e.rss_kib();
    client c(e.port(), 60000ms);
    c.send("GET /download HTTP/1.1\r\nHost: a.test\r\n\r\n");
    auto r = c.read_response();
    long const after_hwm = e.hwm_kib();
    REQUIRE(r.status == 200);
    CHECK(r.body.size() == 200ull * 1024 * 1024);
    INFO("RSS before " << before << " KiB, peak " << after_hwm << " KiB");
    WARN("200 MiB download: RSS before " << before << " KiB, peak during " << after_hwm << " KiB");
    CHECK(after_hwm - before < 8 * 1024);
}

TEST_CASE("routing by Host: exact, wildcard suffix, first match wins, no match is 530/1001", "[proxy][routing]") {
    origin a(origin::behaviour::healthy), b(origin::behaviour::healthy);
    std::string cfg = "[edge]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[admin]\nlisten = \"\"\n"
        "[[origins]]\nname = \"api\"\nhosts = [\"api.example.test\"]\nservers = [\"" + a.address() + "\"]\n"
        "[[origins]]\nname = \"www\"\nhosts = [\"*.example.test\"]\nservers = [\"" + b.address() + "\"]\n";
    edge e(cfg);
    CHECK(get(e.port(), "/", "api.example.test").status == 200);
    CHECK(a.requests() == 1);
    CHECK(get(e.port(), "/", "www.EXAMPLE.test:8080").status == 200);
    CHECK(b.requests() == 1);
    auto r = get(e.port(), "/", "example.test");  // the apex is not under *.example.test
    CHECK(r.status == 530);
    CHECK(r.body.find("1001") != std::string::npos);
    CHECK(a.requests() + b.requests() == 2);
}

TEST_CASE("WebSocket upgrades are relayed both ways", "[proxy][websocket]") {
    origin o(origin::behaviour::upgrade);
    edge e(simple_config({o.address()}));
    client c(e.port());
    auto r = c.request("GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", true);
    CHECK(r.status == 101);
    CHECK(r.header("upgrade") == "websocket");
    CHECK(o.last_head().find("Upgrade: websocket") != std::string::npos);
    c.send("ping-123");
    CHECK(c.read_exactly(8) == "ping-123");
}

TEST_CASE("idle pooled origin connections are closed after origin_idle", "[proxy][pool]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "origin_idle_timeout = \"200ms\""));
    CHECK(get(e.port()).status == 200);
    CHECK(o.closed_by_peer() == 0);
    bool closed = false;
    for (int i = 0; i < 150 && !closed; ++i) {  // the sweep runs every second
        std::this_thread::sleep_for(20ms);
        closed = o.closed_by_peer() == 1;
    }
    CHECK(closed);
    CHECK(get(e.port()).status == 200);  // and a new one is made when needed
    CHECK(o.connections() == 2);
}
