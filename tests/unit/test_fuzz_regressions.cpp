// Regressions found by the libFuzzer harnesses of tests/fuzz/ (see tests/fuzz/README.md).
#include "proxy/forward_headers.hpp"

#include "heads.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace edge522;
using edge522::test::client_head;
using edge522::test::origin_head;
using edge522::test::parse_head;

// fuzz_request_head: "Content-Length: 3" twice (or "3, 3") passes Beast's parser, which accepts
// equal duplicates, and went to the origin unchanged. RFC 9110 8.6: a proxy MUST send one field.
TEST_CASE("fuzz regression: duplicated Content-Length is forwarded to the origin as one field", "[fuzz][forward]") {
    for (std::string dup : {"Content-Length: 3\r\nContent-Length: 3\r\n", "Content-Length: 3, 3\r\n",
                            "Content-Length: 3 ,3\r\nContent-Length: 3\r\n", "Content-Length: 3\r\n"}) {
        INFO(dup);
        auto req = client_head("POST / HTTP/1.1\r\nHost: a.test\r\n" + dup + "\r\n");
        std::string out;
        REQUIRE(write_origin_request(out, req, body_framing::length,
                                     forward_context{"203.0.113.1", "http", "0123456789abcdef-LOC", "a.test", "/", ""}));
        auto fwd = parse_head<true>(out);
        CHECK(fwd.count(http::field::content_length) == 1);
        CHECK(fwd[http::field::content_length] == "3");
    }
}

// fuzz_origin_response: the same from the origin toward the client.
TEST_CASE("fuzz regression: duplicated Content-Length is sent to the client as one field", "[fuzz][forward]") {
    for (std::string dup : {"Content-Length: 2\r\nContent-Length: 2\r\n", "Content-Length: 2, 2\r\n"}) {
        auto res = origin_head("HTTP/1.1 200 OK\r\n" + dup + "\r\n");
        std::string out;
        write_client_response(out, res, response_context{"cloudflare", "0123456789abcdef-LOC", "", body_framing::length});
        auto sent = parse_head<false>(out);
        CHECK(sent.count(http::field::content_length) == 1);
        CHECK(sent[http::field::content_length] == "2");
    }
}
