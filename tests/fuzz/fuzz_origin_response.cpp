// bytes -> the origin response head path of proxy/client_session.cpp, without the sockets.
// Byte 0 picks the request it answers (HEAD or not) and the client's HTTP version; the rest is
// what the origin sent before closing. Beast response_parser<buffer_body> (header_limit 128 KiB,
// body_limit none; skip() on HEAD), 1xx other than 101 dropped; an error goes through
// classify_response_error and must land on a 52x the table has for a broken origin; a head goes
// through prepare_client_response + wire::append_response_head and is parsed again: it must parse,
// say the same thing, carry no hop-by-hop field and frame the body one way only.

#include "proxy/failure.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/wire.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace edge522;
namespace http = boost::beast::http;

namespace {

using response_parser = http::response_parser<http::buffer_body>;

constexpr std::uint32_t max_response_header = 128 * 1024;

void reset(response_parser& p, bool head_request) {
    p.header_limit(max_response_header);
    p.body_limit(boost::none);
    if (head_request) p.skip(true);
}

// async_read_header with everything the origin sent already in the buffer, then EOF.
std::size_t put_header(response_parser& p, std::string_view in, boost::system::error_code& ec) {
    std::size_t used = p.put(boost::asio::buffer(in.data(), in.size()), ec);
    if (ec == http::error::need_more) {
        ec = {};
        if (p.got_some()) p.put_eof(ec);  // -> partial_message (or done, for a body to EOF)
        else ec = http::error::end_of_stream;
    }
    return used;
}

bool is_hop_by_hop(std::string_view name) {
    for (std::string_view h : {"keep-alive", "te", "trailer", "proxy-connection", "proxy-authorization",
                               "proxy-authenticate", "transfer-encoding"})
        if (boost::beast::iequals(name, h)) return true;
    return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) return 0;
    bool const head_request = data[0] & 1;
    unsigned const client_version = (data[0] & 2) ? 10 : 11;
    bool const client_keep_alive = data[0] & 4;
    std::string_view in(reinterpret_cast<char const*>(data + 1), size - 1);

    std::optional<response_parser> rp;
    rp.emplace();
    reset(*rp, head_request);
    boost::system::error_code hec;
    std::size_t used = put_header(*rp, in, hec);
    while (!hec && rp->get().result_int() >= 100 && rp->get().result_int() < 200 &&
           rp->get().result() != http::status::switching_protocols) {
        in.remove_prefix(used);
        rp.emplace();
        reset(*rp, head_request);
        used = put_header(*rp, in, hec);
    }
    if (hec) {
        bool const got_bytes = hec != http::error::end_of_stream;
        FUZZ_CHECK(got_bytes == !in.empty());
        auto f = classify_response_error(hec, got_bytes);
        unsigned const status = info(f).status;
        if (status != 520 && status != 522 && status != 524)
            std::fprintf(stderr, "%s -> %s (%u)\n", hec.message().c_str(), std::string(name(f)).c_str(), status);
        FUZZ_CHECK(status == 520 || status == 522 || status == 524);
        if (!got_bytes) FUZZ_CHECK(f == failure::empty_response);
        if (hec == http::error::header_limit) FUZZ_CHECK(f == failure::response_header_too_large);
        return 0;
    }
    FUZZ_CHECK(rp->is_header_done());

    // Step 4 of client_session::forward.
    auto& res = rp->get();
    unsigned const origin_status = res.result_int();
    bool const upgrade = res.result() == http::status::switching_protocols;
    bool const body_expected = !rp->is_done();
    auto const content_length = rp->content_length();
    bool const out_chunked = body_expected && !content_length.has_value();
    bool keep_alive = client_keep_alive;
    prepare_client_response(res, "cloudflare", "0123456789abcdef-LOC");
    res.version(client_version);
    if (out_chunked) {
        if (client_version >= 11) res.chunked(true);
        else keep_alive = false;
    }
    if (!upgrade) res.keep_alive(keep_alive);
    std::string head;
    wire::append_response_head(head, res);

    // What the client parses.
    response_parser again;
    again.header_limit(UINT32_MAX);
    again.body_limit(boost::none);
    if (head_request) again.skip(true);
    boost::system::error_code ec;
    std::size_t n = again.put(boost::asio::buffer(head.data(), head.size()), ec);
    if (ec) std::fprintf(stderr, "reparse: %s\n---\n%s---\n", ec.message().c_str(), head.c_str());
    FUZZ_CHECK(!ec);
    FUZZ_CHECK(again.is_header_done());
    FUZZ_CHECK(n == head.size());
    auto const& out = again.get();
    FUZZ_CHECK(out.result_int() == origin_status);
    FUZZ_CHECK(out.version() == client_version);
    FUZZ_CHECK(out.reason() == res.reason());
    auto a = res.begin();
    auto b = out.begin();
    for (; a != res.end() && b != out.end(); ++a, ++b) {
        FUZZ_CHECK(boost::beast::iequals(a->name_string(), b->name_string()));
        FUZZ_CHECK(a->value() == b->value());
    }
    FUZZ_CHECK(a == res.end() && b == out.end());

    for (auto const& f : out) {
        if (boost::beast::iequals(f.name_string(), "transfer-encoding")) {
            FUZZ_CHECK(out_chunked && client_version >= 11 && f.value() == "chunked");
            continue;
        }
        FUZZ_CHECK(!is_hop_by_hop(f.name_string()));
        if (f.name() == http::field::upgrade) FUZZ_CHECK(upgrade);
        for (std::string_view x : {"X-Accel-Buffering", "X-Accel-Charset", "X-Accel-Limit-Rate", "X-Accel-Redirect"})
            FUZZ_CHECK(!boost::beast::iequals(f.name_string(), x));
    }
    FUZZ_CHECK(out.count(http::field::connection) <= 1);
    for (auto const& tok : http::token_list{out[http::field::connection]}) {
        if (upgrade) FUZZ_CHECK(boost::beast::iequals(tok, "upgrade"));
        else FUZZ_CHECK(boost::beast::iequals(tok, "keep-alive") || boost::beast::iequals(tok, "close"));
    }
    FUZZ_CHECK(out.count(http::field::server) == 1 && out[http::field::server] == "cloudflare");
    FUZZ_CHECK(out.count("CF-Ray") == 1);

    // Framing: one way only, and the same length the origin announced.
    FUZZ_CHECK(!(out.count(http::field::content_length) && out.count(http::field::transfer_encoding)));
    FUZZ_CHECK(out.count(http::field::content_length) <= 1);
    for (char c : out[http::field::content_length]) FUZZ_CHECK(c >= '0' && c <= '9');  // one plain number
    if (!head_request && !upgrade) {
        FUZZ_CHECK(again.content_length() == content_length);
        if (out_chunked && client_version >= 11) FUZZ_CHECK(again.chunked());
        FUZZ_CHECK(again.is_done() == !body_expected);
    }
    return 0;
}
