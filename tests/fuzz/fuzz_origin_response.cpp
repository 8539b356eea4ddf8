// bytes -> the origin response head path of proxy/client_session.cpp (read_response_head and the
// head of relay_response), without the sockets. Byte 0 picks the request it answers: bit 0 HEAD,
// bit 1 the client speaks HTTP/1.0, bit 2 the client asked for keep-alive, bit 3 the request was an
// upgrade, bit 4 the client sent TE: trailers. The rest is what the origin sent before closing.
//
// The head reader's guard (no line over max_field_line before the parser sees it), the status line
// repair ("HTTP/1.1 200" without its SP), put_nothrow into the edge's response_parser
// (header_limit = max_response_header 128 KiB, skip() on HEAD), interim 1xx other than 101
// dropped. Every head it takes, Beast's own parser<> takes too, with the same status, reason,
// version and fields in order (response_parser keeps Beast's parsing and stores the result its
// own way: this is the check that it stores the same thing). A failure must map to a 52x the table has for a broken origin (empty_response when
// nothing came, response_header_too_large on a limit); a 101 nobody asked for is a 520, and so is a
// status outside 100-599. A head goes
// through write_client_response with the framing relay_response picks and is parsed again: the same
// status, the origin's end-to-end fields in order with their values, no hop-by-hop field (but
// Upgrade on a 101, Trailer when relaying trailers), no X-Accel-*, Server and CF-Ray once, one
// framing and, when the origin gave a length, the same length.
// Nothing may throw: an exception out of here is a crash, as it was out of the edge's io_context
// (a field over 64 KiB, e.g. one 70,000-byte Set-Cookie: inputs go up to 256 KiB, scripts/fuzz.sh).

#include "proxy/failure.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/http_io.hpp"
#include "proxy/request_target.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/beast_oracle.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/status.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace edge522;
namespace http = boost::beast::http;

namespace {

constexpr std::size_t max_response_header = 128 * 1024;

enum class outcome { head, too_large, closed, error };

using fuzz::fields_in_order;
using fuzz::grouped;
using fuzz::same_names;

// Beast's parser<> on the same head bytes: the same result as the edge's response_parser.
void same_as_beast(response_parser const& p, std::string_view head) {
    http::response_parser<http::empty_body> b;
    if (p.skip()) b.skip(true);
    fuzz::beast_takes_head(b, head, max_response_header);
    auto const& want = b.get();
    auto const& got = p.get();
    FUZZ_CHECK(want.result_int() == got.result_int());
    FUZZ_CHECK(want.version() == got.version());
    // Beast's reason() gives the standard phrase for an empty one; write_client_response does too.
    std::string_view const reason = got.reason().empty() ? std::string_view(http::obsolete_reason(want.result())) : got.reason();
    FUZZ_CHECK(want.reason() == reason);
    fuzz::check_same_fields(want, got);
}

// http_io.cpp's read_head over a buffer holding everything the origin sent, then EOF. `bytes` is
// what the origin sent; `in` is advanced past the head.
outcome read_head(response_parser& p, std::string& in, boost::system::error_code& ec) {
    ec = {};
    if (in.empty()) return outcome::closed;
    std::string_view head = in;
    if (auto const end = head.find("\r\n\r\n"); end != std::string_view::npos) head = head.substr(0, end);
    if (longest_line(head.substr(0, std::min(head.size(), max_response_header + 2))) > max_field_line)
        return outcome::too_large;
    // "HTTP/d.d ddd" alone on its line: a SP is inserted before the empty reason (repair_status_line).
    if (auto const eol = in.find('\n'); eol != std::string::npos) {
        std::string_view line(in.data(), eol);
        if (line.ends_with('\r')) line.remove_suffix(1);
        bool repair = line.size() == 12 && line.starts_with("HTTP/") && line[8] == ' ';
        for (std::size_t i = 9; repair && i < 12; ++i) repair = line[i] >= '0' && line[i] <= '9';
        if (repair) in.insert(12, 1, ' ');
    }
    std::size_t used = 0;
    for (;;) {
        std::size_t const n = put_nothrow(p, boost::asio::buffer(in.data() + used, in.size() - used), ec);
        used += n;
        if (!ec && p.is_header_done()) {
            same_as_beast(p, std::string_view(in.data(), used));
            in.erase(0, used);
            return outcome::head;
        }
        if (ec && ec != http::error::need_more) return ec == http::error::header_limit ? outcome::too_large : outcome::error;
        if (n == 0) {
            ec = http::error::partial_message;  // EOF in the head
            return outcome::error;
        }
    }
}

void reset(std::optional<response_parser>& p, bool head_request) {
    p.emplace();
    p->header_limit(static_cast<std::uint32_t>(max_response_header));
    p->body_limit(boost::none);
    if (head_request) p->skip(true);
}

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
    for (auto n : names)
        if (boost::beast::iequals(name, n)) return true;
    return false;
}

// The origin's fields the client must get unchanged, in order.
fields_in_order end_to_end(relayed_response const& res, bool upgrade, bool trailers) {
    std::vector<std::string_view> listed;
    for (auto const& f : res)
        if (f.name() == http::field::connection)
            for (auto const& t : http::token_list{f.value()})
                if (!one_of(t, {"keep-alive", "close", "content-length", "host"})) listed.push_back(t);
    fields_in_order out;
    for (auto const& f : res) {
        auto const n = f.name_string();
        if (one_of(n, {"Server", "Content-Length", "CF-Ray", "X-Accel-Buffering", "X-Accel-Charset", "X-Accel-Limit-Rate",
                       "X-Accel-Redirect"}))
            continue;
        if ((upgrade && boost::beast::iequals(n, "Upgrade")) || (trailers && boost::beast::iequals(n, "Trailer"))) {
            out.emplace_back(n, f.value());
            continue;
        }
        if (one_of(n, {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Transfer-Encoding", "Upgrade",
                       "Proxy-Authorization", "Proxy-Authenticate", "Trailer"}))
            continue;
        bool is_listed = false;
        for (auto l : listed) is_listed = is_listed || boost::beast::iequals(l, n);
        if (!is_listed) out.emplace_back(n, f.value());
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) return 0;
    bool const head_request = data[0] & 1;
    bool const client10 = data[0] & 2;
    bool const client_keep_alive = data[0] & 4;
    bool const upgrade_asked = data[0] & 8;
    bool const te_trailers = data[0] & 16;
    std::string in(reinterpret_cast<char const*>(data + 1), size - 1);
    bool const got_bytes = !in.empty();

    // read_response_head
    std::optional<response_parser> rp;
    reset(rp, head_request);
    boost::system::error_code ec;
    outcome r = read_head(*rp, in, ec);
    while (r == outcome::head && rp->get().result_int() >= 100 && rp->get().result_int() < 200 &&
           rp->get().result() != http::status::switching_protocols) {
        reset(rp, head_request);
        r = read_head(*rp, in, ec);
    }
    if (r != outcome::head) {
        failure f = r == outcome::too_large ? failure::response_header_too_large
                    : r == outcome::closed  ? failure::empty_response
                                            : classify_response_error(ec, got_bytes);
        unsigned const status = info(f).status;
        if (status != 520 && status != 522 && status != 524)
            std::fprintf(stderr, "%s -> %s (%u)\n", ec.message().c_str(), std::string(name(f)).c_str(), status);
        FUZZ_CHECK(status == 520 || status == 522 || status == 524);
        return 0;
    }
    FUZZ_CHECK(rp->is_header_done());
    auto const& res = rp->get();
    for (auto const& f : res) FUZZ_CHECK(f.name_string().size() + f.value().size() + 2 <= max_field_line);
    if (res.result_int() < 100 || res.result_int() > 599) return 0;  // 520: RFC 9110 15, invalid
    bool const upgrade = res.result() == http::status::switching_protocols;
    if (upgrade && !upgrade_asked) return 0;  // 520: a 101 nobody asked for
    if (failure f; has_field(res, http::field::transfer_encoding) && !judge_transfer_encoding(res, f).empty())
        return 0;  // 520: only known codings ending in one chunked are relayed

    // relay_response: the framing toward this client, then the head.
    unsigned const code = res.result_int();
    bool const no_body_status = code < 200 || code == 204 || code == 304;
    bool const body_expected = !rp->is_done() && !head_request && !no_body_status;
    bool keep_alive = client_keep_alive;
    body_framing framing = body_framing::none;
    if (no_body_status || upgrade) framing = body_framing::none;
    else if (rp->content_length()) framing = body_framing::length;
    else if (rp->chunked()) framing = client10 ? body_framing::none : body_framing::chunked;
    else if (body_expected) framing = client10 ? body_framing::none : body_framing::rechunk;
    if (body_expected && framing == body_framing::none) keep_alive = false;
    bool const trailers = te_trailers && framing == body_framing::chunked;
    response_context const ctx{"cloudflare", "0123456789abcdef-LOC", "Tue, 01 Dec 2026 00:00:00 GMT", framing,
                               upgrade, keep_alive, client10, trailers};
    std::string head;
    write_client_response(head, res, ctx);

    // What the client parses (with Beast's parser<>: not the edge's own).
    http::response_parser<http::buffer_body> again;
    again.header_limit(UINT32_MAX);
    again.body_limit(boost::none);
    if (head_request) again.skip(true);
    boost::system::error_code pec;
    std::size_t n = 0;
    try {
        n = again.put(boost::asio::buffer(head.data(), head.size()), pec);
    } catch (std::exception const&) {
        FUZZ_CHECK(false);
    }
    if (pec) std::fprintf(stderr, "reparse: %s\n---\n%.*s---\n", pec.message().c_str(), static_cast<int>(std::min<std::size_t>(head.size(), 4096)), head.c_str());
    FUZZ_CHECK(!pec);
    FUZZ_CHECK(again.is_header_done());
    FUZZ_CHECK(n == head.size());
    auto const& out = again.get();
    FUZZ_CHECK(out.result_int() == code);
    FUZZ_CHECK(out.version() == 11);
    if (!res.reason().empty()) FUZZ_CHECK(out.reason() == res.reason());

    auto const expected = end_to_end(res, upgrade, trailers);
    fields_in_order got;
    bool date_added = false;
    for (auto const& f : out) {
        if (one_of(f.name_string(), {"Server", "CF-Ray", "Content-Length", "Transfer-Encoding", "Connection"})) continue;
        got.emplace_back(f.name_string(), f.value());
    }
    if (!has_field(res, http::field::date)) {  // the edge adds one at the end
        FUZZ_CHECK(!got.empty() && boost::beast::iequals(got.back().first, "Date"));
        got.pop_back();
        date_added = true;
    }
    // Beast lists the client's head grouped by name (see same_as_beast).
    FUZZ_CHECK(same_names(grouped(got), grouped(expected)));
    (void)date_added;

    for (auto const& f : out) {
        FUZZ_CHECK(!one_of(f.name_string(), {"Keep-Alive", "Proxy-Connection", "TE", "Proxy-Authorization",
                                             "Proxy-Authenticate", "X-Accel-Buffering", "X-Accel-Charset",
                                             "X-Accel-Limit-Rate", "X-Accel-Redirect"}));
        if (f.name() == http::field::upgrade) FUZZ_CHECK(upgrade);
        if (f.name() == http::field::trailer) FUZZ_CHECK(trailers);
    }
    FUZZ_CHECK(out.count(http::field::connection) <= 1);
    if (upgrade) FUZZ_CHECK(boost::beast::iequals(out[http::field::connection], "upgrade"));
    else if (!keep_alive) FUZZ_CHECK(boost::beast::iequals(out[http::field::connection], "close"));
    FUZZ_CHECK(out.count(http::field::server) == 1 && out[http::field::server] == "cloudflare");
    FUZZ_CHECK(out.count("CF-Ray") == 1);

    // Framing: one way only, the length the origin announced, chunks when relaying chunks.
    FUZZ_CHECK(!(out.count(http::field::content_length) && out.count(http::field::transfer_encoding)));
    FUZZ_CHECK(out.count(http::field::content_length) <= 1);
    FUZZ_CHECK(out.count(http::field::transfer_encoding) <= 1);
    for (char c : out[http::field::content_length]) FUZZ_CHECK(c >= '0' && c <= '9');  // one plain number
    if (framing == body_framing::length) FUZZ_CHECK(out.count(http::field::content_length) == 1);
    if (!head_request && !upgrade && !no_body_status) {
        if (framing == body_framing::length) FUZZ_CHECK(again.content_length() == rp->content_length());
        FUZZ_CHECK(again.chunked() == (framing == body_framing::chunked || framing == body_framing::rechunk));
        if (framing == body_framing::none && body_expected) FUZZ_CHECK(!again.is_done());  // delimited by the close
    }
    return 0;
}
