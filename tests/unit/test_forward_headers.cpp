#include "proxy/forward_headers.hpp"

#include "heads.hpp"

#include "proxy/http_io.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace edge522;
using edge522::test::client_head;
using edge522::test::origin_head;
using edge522::test::parse_head;

namespace {

struct forwarded {
    bool ok;
    std::string wire;
};

// The head the origin gets for a raw client head.
forwarded to_origin(std::string const& raw, body_framing framing = body_framing::none,
                    std::string_view ip = "198.51.100.7", std::string_view scheme = "http",
                    std::string_view drop = "") {
    auto req = client_head(raw);
    std::string out;
    std::string const host(first_value(req, http::field::host));
    std::string const target(req.target());
    bool ok = write_origin_request(out, req, framing, {ip, scheme, "0123456789abcdef-SJC", host, target, drop});
    return {ok, out};
}

// The head the client gets for a raw origin head.
std::string to_client(std::string const& raw, body_framing framing = body_framing::none, bool keep_alive = true,
                      bool http10 = false, bool upgrade = false) {
    auto res = origin_head(raw);
    std::string out;
    write_client_response(out, res, {"cloudflare", "0123456789abcdef-LOC", "Tue, 01 Dec 2026 07:00:00 GMT", framing,
                                     upgrade, keep_alive, http10, false});
    return out;
}

} // namespace

TEST_CASE("hop-by-hop fields and the names Connection lists are not forwarded", "[headers]") {
    auto f = to_origin("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, X-Private, content-length, host\r\n"
                       "X-Private: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\n"
                       "Upgrade: websocket\r\nProxy-Authorization: Basic x\r\nProxy-Connection: keep-alive\r\n"
                       "X-Keep: yes\r\n\r\n");
    REQUIRE(f.ok);
    auto req = parse_head<true>(f.wire);
    for (auto name : {"X-Private", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Authorization", "Proxy-Connection"})
        CHECK(req.count(name) == 0);
    CHECK(req[http::field::connection] == "keep-alive");
    CHECK(req[http::field::host] == "a.test");
    CHECK(req["X-Keep"] == "yes");
}

TEST_CASE("upgrade requests keep Upgrade and Connection: upgrade", "[headers]") {
    auto f = to_origin("GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    auto req = parse_head<true>(f.wire);
    CHECK(req[http::field::upgrade] == "websocket");
    CHECK(req[http::field::connection] == "upgrade");
}

TEST_CASE("the origin gets Cloudflare's headers: client copies are replaced, lists appended with \", \"", "[headers]") {
    auto f = to_origin("GET / HTTP/1.0\r\nHost: a.test\r\nCF-Connecting-IP: 6.6.6.6\r\nCF-Ray: forged\r\n"
                       "X-Forwarded-Proto: https\r\nExpect: 100-continue\r\n\r\n");
    REQUIRE(f.ok);
    CHECK(f.wire.starts_with("GET / HTTP/1.1\r\nHost: a.test\r\n"));
    auto req = parse_head<true>(f.wire);
    CHECK(req.count("CF-Connecting-IP") == 1);
    CHECK(req["CF-Connecting-IP"] == "198.51.100.7");
    CHECK(req["X-Forwarded-For"] == "198.51.100.7");
    CHECK(req["X-Forwarded-Proto"] == "http");
    CHECK(req.count("CF-Ray") == 1);
    CHECK(req["CF-Ray"] == "0123456789abcdef-SJC");
    CHECK(req["CF-Visitor"] == R"({"scheme":"http"})");
    CHECK(req["CDN-Loop"] == "cloudflare");
    CHECK(req["CF-IPCountry"] == "XX");
    CHECK(req[http::field::connection] == "keep-alive");
    CHECK(req.count(http::field::expect) == 0);

    // Repeated lines are combined, not dropped (RFC 9110 5.3).
    auto again = to_origin("GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 203.0.113.1\r\nCDN-Loop: fastly\r\n"
                           "X-Forwarded-For: 198.51.100.101\r\nCDN-Loop: akamai\r\n\r\n",
                           body_framing::none, "198.51.100.102", "https");
    auto req2 = parse_head<true>(again.wire);
    CHECK(req2.count("X-Forwarded-For") == 1);
    CHECK(req2["X-Forwarded-For"] == "203.0.113.1, 198.51.100.101, 198.51.100.102");
    CHECK(req2["CDN-Loop"] == "fastly, akamai, cloudflare");
    CHECK(req2["CF-Visitor"] == R"({"scheme":"https"})");
}

TEST_CASE("an X-Forwarded-For that would pass the field limit once extended is refused, not thrown", "[headers]") {
    std::string const xff(max_field_line - 20, '1');
    auto f = to_origin("GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: " + xff + "\r\n\r\n");
    CHECK_FALSE(f.ok);
    auto g = to_origin("GET / HTTP/1.1\r\nHost: a.test\r\nCDN-Loop: " + std::string(max_field_line - 20, 'c') + "\r\n\r\n");
    CHECK_FALSE(g.ok);
}

TEST_CASE("origin_request_fits agrees with write_origin_request at the limit to the byte", "[headers]") {
    // "X-Forwarded-For: " + values + ", " + ip + CRLF; "CDN-Loop: " + values + ", cloudflare" + CRLF.
    std::string_view const ip = "198.51.100.7";
    std::size_t const xff_room = max_field_line - (17 + 2 + ip.size() + 2);
    std::size_t const loop_room = max_field_line - (10 + 2 + 10 + 2);
    struct probe {
        std::string head;
        bool fits;
    };
    std::vector<probe> probes{
        {"X-Forwarded-For: " + std::string(xff_room, '1') + "\r\n", true},
        {"X-Forwarded-For: " + std::string(xff_room + 1, '1') + "\r\n", false},
        // Two fields joined with ", ": the separator counts.
        {"X-Forwarded-For: " + std::string(xff_room - 2, '1') + "\r\nx-forwarded-for: 2\r\n", false},
        {"X-Forwarded-For: " + std::string(xff_room - 3, '1') + "\r\nx-forwarded-for: 2\r\n", true},
        // An empty value joins nothing.
        {"X-Forwarded-For:\r\nX-Forwarded-For: " + std::string(xff_room, '1') + "\r\n", true},
        {"CDN-Loop: " + std::string(loop_room, 'c') + "\r\n", true},
        {"CDN-Loop: " + std::string(loop_room + 1, 'c') + "\r\n", false},
        {"CDN-Loop: a\r\n", true},
    };
    for (auto const& p : probes) {
        auto const raw = "GET / HTTP/1.1\r\nHost: a.test\r\n" + p.head + "\r\n";
        INFO(p.head.substr(0, 40));
        CHECK(origin_request_fits(client_head(raw), ip) == p.fits);
        CHECK(to_origin(raw, body_framing::none, ip).ok == p.fits);
    }
}

TEST_CASE("Transfer-Encoding is forwarded as it came, never reduced to chunked", "[headers]") {
    auto f = to_origin("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", body_framing::chunked);
    auto req = parse_head<true>(f.wire);
    CHECK(req[http::field::transfer_encoding] == "gzip, chunked");
    auto g = to_origin("POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
                       body_framing::chunked);
    CHECK(parse_head<true>(g.wire)[http::field::transfer_encoding] == "gzip, chunked");
}

TEST_CASE("the chaos header is never forwarded", "[headers]") {
    auto f = to_origin("GET / HTTP/1.1\r\nHost: a.test\r\nX-Edge522-Fault: blackhole\r\n\r\n", body_framing::none,
                       "127.0.0.1", "http", "x-edge522-fault");
    CHECK(f.wire.find("blackhole") == std::string::npos);
}

TEST_CASE("the client gets an HTTP/1.1 status line, Server, CF-Ray and Date: X-Accel-* dropped", "[headers]") {
    auto w = to_client("HTTP/1.0 200 OK\r\nServer: nginx\r\nX-Accel-Redirect: /x\r\nConnection: keep-alive\r\n"
                       "CF-Ray: forged\r\n\r\n");
    CHECK(w.starts_with("HTTP/1.1 200 OK\r\n"));
    auto res = parse_head<false>(w);
    CHECK(res[http::field::server] == "cloudflare");
    CHECK(res.count("CF-Ray") == 1);
    CHECK(res["CF-Ray"] == "0123456789abcdef-LOC");
    CHECK(res.count("X-Accel-Redirect") == 0);
    CHECK(res.count(http::field::connection) == 0);
    CHECK(res[http::field::date] == "Tue, 01 Dec 2026 07:00:00 GMT");
    // The origin's own Date is kept.
    auto dated = parse_head<false>(to_client("HTTP/1.1 200 OK\r\nDate: Mon, 30 Nov 2026 00:00:00 GMT\r\n\r\n"));
    CHECK(dated.count(http::field::date) == 1);
    CHECK(dated[http::field::date] == "Mon, 30 Nov 2026 00:00:00 GMT");
    // A status line without a reason phrase gets the standard one.
    auto bare = to_client("HTTP/1.1 404 \r\n\r\n");
    CHECK(bare.starts_with("HTTP/1.1 404 Not Found\r\n"));
}

TEST_CASE("the origin's fields reach the client as they came: order names case and values kept", "[headers]") {
    // RFC 9110 5.3: the order of a name's fields is kept; the edge keeps arrival order throughout
    // (Beast's basic_fields would list a name's fields together).
    auto w = to_client("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nx-custom: \xC3\xA9t\xC3\xA9\r\nSet-Cookie: b=2\r\n"
                       "Vary: Accept\r\nset-cookie: c=3\r\nDate: Mon, 30 Nov 2026 00:00:00 GMT\r\n\r\n");
    CHECK(w == "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nx-custom: \xC3\xA9t\xC3\xA9\r\nSet-Cookie: b=2\r\nVary: Accept\r\n"
               "set-cookie: c=3\r\nDate: Mon, 30 Nov 2026 00:00:00 GMT\r\nServer: cloudflare\r\n"
               "CF-Ray: 0123456789abcdef-LOC\r\n\r\n");
    // An obs-fold is unfolded into one value (Beast hands it over in a scratch buffer it reuses:
    // the parser copies every value).
    auto folded = origin_head("HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nX-B: three\r\n\r\n");
    std::vector<std::pair<std::string, std::string>> got;
    for (auto const& f : folded) got.emplace_back(f.name_string(), f.value());
    CHECK(got == std::vector<std::pair<std::string, std::string>>{{"X-A", "one two"}, {"X-B", "three"}});
    CHECK(folded.reason() == "OK");
    CHECK(folded.result_int() == 200);
    CHECK(folded.version() == 11);
}

TEST_CASE("framing toward the client: Content-Length on 204/304 dropped, keep-alive for HTTP/1.0 announced", "[headers]") {
    auto nc = parse_head<false>(to_client("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"));
    CHECK(nc.count(http::field::content_length) == 0);
    auto len = parse_head<false>(to_client("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", body_framing::length));
    CHECK(len.count(http::field::content_length) == 1);
    CHECK(len[http::field::content_length] == "3");
    auto re = parse_head<false>(to_client("HTTP/1.1 200 OK\r\n\r\n", body_framing::rechunk));
    CHECK(re[http::field::transfer_encoding] == "chunked");
    CHECK(to_client("HTTP/1.1 200 OK\r\n\r\n", body_framing::none, false).find("Connection: close\r\n") != std::string::npos);
    CHECK(to_client("HTTP/1.1 200 OK\r\n\r\n", body_framing::none, true, true).find("Connection: keep-alive\r\n") !=
          std::string::npos);
}
