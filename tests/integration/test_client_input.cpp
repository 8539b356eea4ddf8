// Bad client input never crashes or hangs the edge, and the edge keeps serving others throughout.
#include "harness.hpp"

#include <catch2/catch.hpp>

using namespace edge522::test;
using namespace std::chrono_literals;
using namespace std::string_literals;

TEST_CASE("bad client input gets 400/408/431/501 and the edge keeps serving", "[client]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "client_header = \"300ms\"", "", "max_request_header = \"4KiB\""));

    SECTION("malformed request line -> 400") {
        client c(e.port());
        auto r = c.request("GARBAGE\x01 / HTTP/1.1\r\nHost: a\r\n\r\n");
        CHECK(r.status == 400);
        CHECK(c.closed_within(2000ms));
    }
    SECTION("malformed header -> 400") {
        client c(e.port());
        CHECK(c.request("GET / HTTP/1.1\r\nHost a.test\r\n\r\n").status == 400);
    }
    SECTION("head over max_request_header -> 431") {
        client c(e.port());
        auto r = c.request("GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
        CHECK(r.status == 431);
        CHECK(r.status_line == "HTTP/1.1 431 Request Header Fields Too Large");
    }
    SECTION("incomplete head after client_header -> 408 and close, on time") {
        client c(e.port());
        auto t0 = clock_type::now();
        c.send("GET / HTT");
        auto r = c.read_response();
        double s = std::chrono::duration<double>(clock_type::now() - t0).count();
        CHECK(r.status == 408);
        CHECK(s >= 0.29);
        CHECK(s < 1.5);
        CHECK(c.closed_within(2000ms));
    }
    SECTION("Content-Length with Transfer-Encoding -> 400") {
        client c(e.port());
        auto r = c.request("POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        CHECK(r.status == 400);
        CHECK(o.requests() == 0);
    }
    SECTION("unknown transfer-coding -> 501 (or 400)") {
        client c(e.port());
        auto r = c.request("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\n\r\n");
        CHECK((r.status == 501 || r.status == 400));
        CHECK(o.requests() == 0);
    }
    SECTION("empty lines before a request line are ignored (RFC 9112 2.2)") {
        client c(e.port());
        CHECK(c.request("\r\n\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
        // A stray CRLF after a request (as some clients send after a body), then the next one.
        c.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n\r\n");
        CHECK(c.read_response().status == 200);
        CHECK(c.request("\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n").status == 200);
        CHECK(o.requests() == 3);
    }
    SECTION("only empty lines and then a close get no answer, as nginx") {
        client c(e.port());
        c.send("\r\n\r\n\r\n");
        c.shutdown_send();
        auto r = c.read_response();
        CHECK(r.status == 0);
        CHECK(r.status_line.empty());
    }
    SECTION("HTTP/1.1 without Host -> 400") {
        client c(e.port());
        CHECK(c.request("GET / HTTP/1.1\r\n\r\n").status == 400);
    }
    SECTION("a silent connection is closed at client_header without an answer") {
        client c(e.port());
        CHECK(c.closed_within(2000ms));
    }
    // Whatever happened above, the edge still serves.
    CHECK(get(e.port()).status == 200);
}

TEST_CASE("a slow client does not block others", "[client]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "client_header = \"2s\""));
    client slow(e.port());
    slow.send("GET / HTTP/1.1\r\nHo");
    for (int i = 0; i < 5; ++i) {
        auto r = get(e.port());
        CHECK(r.status == 200);
        CHECK(r.seconds < 1.0);
    }
}

TEST_CASE("GET /cdn-cgi/error/CODE renders that page without touching an origin", "[client][pages]") {
    refusing_origin ro;
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    for (int code : {520, 521, 522, 523, 524, 525, 526, 530, 403}) {
        auto r = get(e.port(), "/cdn-cgi/error/" + std::to_string(code));
        CHECK(r.status == code);
        CHECK(!r.header("cf-ray").empty());
    }
    CHECK(get(e.port(), "/cdn-cgi/error/522").status_line == "HTTP/1.1 522 Connection Timed Out");
    CHECK(get(e.port(), "/cdn-cgi/error/999").status == 404);
    CHECK(get(e.port(), "/cdn-cgi/error/abc").status == 404);
    CHECK(o.requests() == 0);
}

TEST_CASE("error bodies follow Accept: HTML, JSON, problem+json, Markdown", "[client][pages]") {
    blackholed_origin bh;
    edge e(simple_config({bh.address()}, "connect = \"100ms\""));
    auto html = get(e.port(), "/", "shop.test", "Accept: text/html\r\n");
    CHECK(html.status == 522);
    CHECK(html.header("content-type").find("text/html") == 0);
    CHECK(html.body.find("<title>shop.test | 522: Connection timed out</title>") != std::string::npos);
    CHECK(html.header("cache-control") == "private, max-age=0, no-store, no-cache, must-revalidate, post-check=0, pre-check=0");
    CHECK(html.header("expires") == "Thu, 01 Jan 1970 00:00:01 GMT");
    CHECK(html.header("x-frame-options") == "SAMEORIGIN");
    CHECK(html.header("referrer-policy") == "same-origin");

    auto json = get(e.port(), "/", "shop.test", "Accept: text/html;q=0.5, application/json\r\n");
    CHECK(json.header("content-type").find("application/json") == 0);
    CHECK(json.body.find("\"error_name\":\"connection_timeout\"") != std::string::npos);
    CHECK(json.body.find("\"zone\":\"shop.test\"") != std::string::npos);
    CHECK(json.body.find("\"instance\":\"" + json.header("cf-ray") + "\"") != std::string::npos);

    auto problem = get(e.port(), "/", "shop.test", "Accept: application/problem+json\r\n");
    CHECK(problem.header("content-type").find("application/problem+json") == 0);

    auto md = get(e.port(), "/", "shop.test", "Accept: text/markdown\r\n");
    CHECK(md.header("content-type").find("text/markdown") == 0);
    CHECK(md.body.find("# Error 522") != std::string::npos);
}

TEST_CASE("diagnostics = false drops the diagnosis header", "[client][pages]") {
    refusing_origin ro;
    edge e(simple_config({ro.address()}, "", "", "diagnostics = false"));
    auto r = get(e.port());
    CHECK(r.status == 521);
    CHECK(r.header("edge522-diagnosis").empty());
    CHECK(r.body.find("ECONNREFUSED") == std::string::npos);
}

TEST_CASE("max_connections closes connections past the limit and frees slots on close", "[client][limits]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "max_connections = 2"));
    auto a = std::make_unique<client>(e.port());
    client b(e.port());
    CHECK(a->request("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 200);
    CHECK(b.request("GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 200);
    client third(e.port());
    CHECK(third.closed_within(2000ms));
    a.reset();  // frees a slot
    bool served = false;
    for (int i = 0; i < 50 && !served; ++i) {
        std::this_thread::sleep_for(20ms);
        served = get(e.port()).status == 200;
    }
    CHECK(served);
    CHECK(e.log().find("max_connections (2) reached") != std::string::npos);
}

TEST_CASE("request smuggling and hygiene: ambiguous framing is refused, never forwarded", "[client][smuggling]") {
    origin o(origin::behaviour::echo_size);
    edge e(simple_config({o.address()}));
    struct sample {
        char const* name;
        std::string raw;
        std::vector<int> codes;
    };
    std::vector<sample> samples{
        {"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}},
        {"differing duplicate CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", {400}},
        {"TE not ending in chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", {501, 400}},
        {"obfuscated TE value", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", {501, 400}},
        {"TE split over two fields", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", {400, 501}},
        {"space before the colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", {400}},
        {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}},
        {"bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n", {400}},
        {"NUL in a header value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"s, {400}},
        {"CTL in a header value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", {400}},
        {"absurd chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", {400}},
        {"two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", {400}},
        {"signed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", {400}},
    };
    for (auto const& s : samples) {
        INFO(s.name);
        client c(e.port());
        auto r = c.request(s.raw);
        CHECK(std::find(s.codes.begin(), s.codes.end(), r.status) != s.codes.end());
        CHECK(c.closed_within(2000ms));
    }
    CHECK(o.requests() <= 1);  // only the absurd chunk size had a valid head to forward
    CHECK(get(e.port()).status == 200);
}

TEST_CASE("obs-fold is replaced by a space before forwarding (RFC 9112 5.2)", "[client][smuggling]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}));
    client c(e.port());
    auto r = c.request("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.body.find("X-Folded: one two\r\n") != std::string::npos);
}

TEST_CASE("a client that never reads its response is disconnected at the write timeout", "[client][limits]") {
    origin o(origin::behaviour::stream);
    o.stream_bytes = 256ull * 1024 * 1024;
    edge e(simple_config({o.address()}, "write = \"500ms\""));
    client c(e.port());
    auto t0 = clock_type::now();
    c.send("GET /never-read HTTP/1.1\r\nHost: a.test\r\n\r\n");  // and never read a byte
    CHECK(e.log_contains("\"GET /never-read\" 200", 5000ms));
    double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    CHECK(s >= 0.49);
    CHECK(s < 5.0);
}
