#include "proxy/forward_headers.hpp"

#include <catch2/catch.hpp>

#include <boost/beast/http/empty_body.hpp>

using namespace edge522;
namespace http = boost::beast::http;

TEST_CASE("remove_hop_by_hop drops the fixed set and the names Connection lists", "[headers]") {
    http::fields f;
    f.set(http::field::connection, "keep-alive, X-Private, content-length, host");
    f.set("X-Private", "1");
    f.set(http::field::keep_alive, "timeout=5");
    f.set(http::field::te, "trailers");
    f.set(http::field::trailer, "X-T");
    f.set(http::field::transfer_encoding, "chunked");
    f.set(http::field::upgrade, "websocket");
    f.set(http::field::proxy_authorization, "Basic x");
    f.set("Proxy-Connection", "keep-alive");
    f.set(http::field::content_length, "5");
    f.set(http::field::host, "a.test");
    f.set("X-Keep", "yes");
    remove_hop_by_hop(f);
    for (auto name : {"Connection", "X-Private", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                      "Proxy-Authorization", "Proxy-Connection"})
        CHECK(f.count(name) == 0);
    CHECK(f[http::field::content_length] == "5");  // never removed through Connection
    CHECK(f[http::field::host] == "a.test");
    CHECK(f["X-Keep"] == "yes");
}

TEST_CASE("upgrade requests keep Upgrade and Connection: upgrade", "[headers]") {
    http::request<http::empty_body> req{http::verb::get, "/ws", 11};
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "websocket");
    CHECK(is_upgrade_request(req));
    prepare_origin_request(req, {"127.0.0.1", "http", "0123456789abcdef-LOC"});
    CHECK(req[http::field::upgrade] == "websocket");
    CHECK(req[http::field::connection] == "upgrade");
}

TEST_CASE("prepare_origin_request adds Cloudflare's headers", "[headers]") {
    http::request<http::empty_body> req{http::verb::get, "/", 10};
    req.set(http::field::host, "a.test");
    req.set("CF-Connecting-IP", "6.6.6.6");  // a client cannot forge it
    req.set("X-Forwarded-Proto", "https");
    req.set(http::field::expect, "100-continue");
    prepare_origin_request(req, {"198.51.100.7", "http", "0123456789abcdef-SJC"});
    CHECK(req.version() == 11);
    CHECK(req["CF-Connecting-IP"] == "198.51.100.7");
    CHECK(req["X-Forwarded-For"] == "198.51.100.7");
    CHECK(req["X-Forwarded-Proto"] == "http");
    CHECK(req["CF-Ray"] == "0123456789abcdef-SJC");
    CHECK(req["CF-Visitor"] == R"({"scheme":"http"})");
    CHECK(req["CDN-Loop"] == "cloudflare");
    CHECK(req["CF-IPCountry"] == "XX");
    CHECK(req[http::field::connection] == "keep-alive");
    CHECK(req.count(http::field::expect) == 0);

    http::request<http::empty_body> again{http::verb::get, "/", 11};
    again.set("X-Forwarded-For", "203.0.113.1,198.51.100.101");
    again.set("CDN-Loop", "fastly");
    prepare_origin_request(again, {"198.51.100.102", "https", "r"});
    CHECK(again["X-Forwarded-For"] == "203.0.113.1,198.51.100.101,198.51.100.102");
    CHECK(again["CDN-Loop"] == "fastly, cloudflare");
    CHECK(again["CF-Visitor"] == R"({"scheme":"https"})");
}

TEST_CASE("prepare_client_response sets Server and CF-Ray, drops X-Accel-*", "[headers]") {
    http::response<http::empty_body> res{http::status::ok, 11};
    res.set(http::field::server, "nginx");
    res.set("X-Accel-Redirect", "/x");
    res.set(http::field::connection, "keep-alive");
    prepare_client_response(res, "cloudflare", "0123456789abcdef-LOC");
    CHECK(res[http::field::server] == "cloudflare");
    CHECK(res["CF-Ray"] == "0123456789abcdef-LOC");
    CHECK(res.count("X-Accel-Redirect") == 0);
    CHECK(res.count(http::field::connection) == 0);
}
