// bytes -> the client request head path of proxy/client_session.cpp, without the sockets: the head
// reader's guard (no line over max_field_line before the parser sees it, http_io's read_buffered_head) and
// put_nothrow into the edge's request_parser (Beast's basic_parser; the head it stores is checked
// against Beast's parser<> on the same bytes) (header_limit = max_request_header, body
// limit none), then the production decisions (400 for Transfer-Encoding in HTTP/1.0,
// judge_transfer_encoding: 400 / 501 unless a list of known codings ending in one chunked;
// resolve_target: 414 / 400 for the target and Host),
// route by the target's host, and write_origin_request with the body framing the session picks.
// The head the edge would send to the origin is parsed again by a fresh parser: it must parse and
// carry the client's end-to-end fields in order with their values, then the edge's own; no
// hop-by-hop field; one Host (the authority the edge routed on, or the origin server's name for
// HTTP/1.0 without one); one plain Content-Length or the
// client's Transfer-Encoding, never both, framing the body as the client did (no smuggling
// introduced by the edge). Pipelined requests in the same bytes are taken one after the other.
//
// Each input runs with the default max_request_header (32 KiB) and, when longer than that, again with
// a large one (1 MiB; the config accepts up to 64 MiB): then a field can pass 64 KiB, the most that
// Beast's basic_fields holds (more throws std::length_error) -- inputs up to 256 KiB (scripts/fuzz.sh).
// Nothing may throw: an exception out of here is a crash, as it was out of the edge's io_context.

#include "config/config.hpp"
#include "proxy/error_page.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/http_io.hpp"
#include "proxy/request_target.hpp"
#include "proxy/router.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/beast_oracle.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace edge522;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view client_ip = "203.0.113.9";
constexpr std::size_t max_url = 16 * 1024;  // the config's default

config::config const& fixed_config() {
    static config::config const cfg = [] {
        config::config c;
        c.origins.clear();
        config::origin exact;
        exact.name = "exact";
        exact.hosts = {"api.example.test"};
        config::origin wild;
        wild.name = "wild";
        wild.hosts = {"*.example.test"};
        config::origin any;
        any.name = "any";
        any.hosts = {"*"};
        c.origins = {exact, wild, any};
        return c;
    }();
    return cfg;
}

// The production head read (http_io's read_buffered_head: CRLFs before the request line skipped,
// no line over max_field_line, the parser under the head limit) with the whole input already
// buffered, then EOF. Returns false when production answers (431 for a long line or the limit,
// 400 malformed) or closes quietly (needs more than there is); `used` = bytes taken.
bool read_head(request_parser& p, std::string_view in, std::size_t limit, std::size_t& used) {
    boost::beast::flat_buffer buf;
    buf.commit(boost::asio::buffer_copy(buf.prepare(in.size()), boost::asio::buffer(in.data(), in.size())));
    head_result r;
    bool const final = read_buffered_head(buf, p, limit, r);
    used = in.size() - buf.size();
    return final && r.status == head_status::ok;
}

// Beast's parser<> on the same head bytes (less the empty lines before the request line, which the
// head read skips): the same request line and fields as the edge's request_parser stored.
void same_as_beast(request_parser const& p, std::string_view head, std::size_t limit) {
    head.remove_prefix(std::min(head.find_first_not_of("\r\n"), head.size()));
    http::request_parser<http::empty_body> b;
    fuzz::beast_takes_head(b, head, limit);
    auto const& want = b.get();
    auto const& got = p.get();
    FUZZ_CHECK(want.method() == got.method());
    FUZZ_CHECK(want.method_string() == got.method_string());
    FUZZ_CHECK(want.target() == got.target());
    FUZZ_CHECK(want.version() == got.version());
    fuzz::check_same_fields(want, got);
}

// The body, consumed into a scratch buffer (as the relay loop does) so that the next pipelined
// request can be parsed. Returns false when the rest of the input is body / broken.
bool skip_body(request_parser& p, std::string_view& in) {
    char scratch[4096];
    while (!p.is_done()) {
        p.get().body().data = scratch;
        p.get().body().size = sizeof scratch;
        boost::system::error_code ec;
        std::size_t used = put_nothrow(p, boost::asio::buffer(in.data(), in.size()), ec);
        in.remove_prefix(used);
        if (ec == http::error::need_buffer) continue;
        if (ec) return false;
        if (used == 0 && !p.is_done()) return false;  // needs more than we have
    }
    return true;
}

bool one_of(std::string_view name, std::initializer_list<std::string_view> names) {
    for (auto n : names)
        if (boost::beast::iequals(name, n)) return true;
    return false;
}

// The client's fields the origin must get unchanged, in order: all but the hop-by-hop ones (RFC
// 9110 7.6.1, and those Connection lists), the ones the edge sets itself, and Upgrade unless relayed.
std::vector<std::pair<std::string_view, std::string_view>> end_to_end(received_request const& req, bool upgrade) {
    std::vector<std::string_view> listed;
    for (auto const& f : req)
        if (f.name() == http::field::connection)
            for (auto const& t : http::token_list{f.value()})
                if (!one_of(t, {"keep-alive", "close", "content-length", "host"})) listed.push_back(t);
    std::vector<std::pair<std::string_view, std::string_view>> out;
    for (auto const& f : req) {
        auto const n = f.name_string();
        if (one_of(n, {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Transfer-Encoding", "Proxy-Authorization",
                       "Proxy-Authenticate", "Trailer", "Host", "Expect", "Content-Length", "X-Forwarded-For",
                       "X-Forwarded-Proto", "CDN-Loop", "CF-Connecting-IP", "CF-Ray", "CF-Visitor", "CF-IPCountry"}))
            continue;
        if (boost::beast::iequals(n, "Upgrade")) {
            if (upgrade) out.emplace_back(n, f.value());
            continue;
        }
        bool is_listed = false;
        for (auto l : listed) is_listed = is_listed || boost::beast::iequals(l, n);
        if (!is_listed) out.emplace_back(n, f.value());
    }
    return out;
}

// Checks one request the edge decided to forward.
void check_forwarded(request_parser const& client, request_target const& t, std::string_view host,
                     body_framing framing, std::string const& head) {
    auto const& req = client.get();
    bool const upgrade = is_upgrade_request(req);
    request_parser again;
    again.header_limit(UINT32_MAX);
    again.body_limit(boost::none);
    boost::system::error_code ec;
    std::size_t used = put_nothrow(again, boost::asio::buffer(head.data(), head.size()), ec);
    if (ec) std::fprintf(stderr, "reparse: %s\n---\n%.*s---\n", ec.message().c_str(), static_cast<int>(std::min<std::size_t>(head.size(), 4096)), head.c_str());
    FUZZ_CHECK(!ec);
    FUZZ_CHECK(again.is_header_done());
    FUZZ_CHECK(used == head.size());
    auto const& out = again.get();

    // The same request: method, the origin-form target, HTTP/1.1, the client's fields in order.
    FUZZ_CHECK(out.method_string() == req.method_string());
    FUZZ_CHECK(out.target() == t.origin_target());
    FUZZ_CHECK(out.version() == 11);
    auto const expected = end_to_end(req, upgrade);
    std::vector<std::pair<std::string_view, std::string_view>> got;
    for (auto const& f : out)
        if (!one_of(f.name_string(), {"Host", "Connection", "Transfer-Encoding", "Content-Length", "X-Forwarded-For",
                                      "X-Forwarded-Proto", "CDN-Loop", "CF-Connecting-IP", "CF-Ray", "CF-Visitor",
                                      "CF-IPCountry"}))
            got.emplace_back(f.name_string(), f.value());
    FUZZ_CHECK(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        FUZZ_CHECK(boost::beast::iequals(got[i].first, expected[i].first));
        FUZZ_CHECK(got[i].second == expected[i].second);
    }

    // No hop-by-hop field, Connection says only keep-alive (or upgrade on an upgrade).
    for (auto const& f : out)
        FUZZ_CHECK(!one_of(f.name_string(), {"Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Proxy-Authorization",
                                             "Proxy-Authenticate", "Expect"}));
    FUZZ_CHECK(lookup_field(out, http::field::connection).count == 1);
    FUZZ_CHECK(boost::beast::iequals(lookup_field(out, http::field::connection).first, upgrade ? "upgrade" : "keep-alive"));
    FUZZ_CHECK(lookup_field(out, "CF-Connecting-IP").count == 1 && lookup_field(out, "CF-Connecting-IP").first == client_ip);
    FUZZ_CHECK(lookup_field(out, "CF-Ray").count == 1);
    FUZZ_CHECK(lookup_field(out, "X-Forwarded-For").count == 1 && lookup_field(out, "X-Forwarded-For").first.ends_with(client_ip));
    FUZZ_CHECK(lookup_field(out, "CDN-Loop").count == 1 && lookup_field(out, "CDN-Loop").first.ends_with("cloudflare"));

    // Framing: exactly what the client framed, one way only.
    FUZZ_CHECK(!(lookup_field(out, http::field::content_length).count && lookup_field(out, http::field::transfer_encoding).count));
    FUZZ_CHECK(lookup_field(out, http::field::content_length).count <= 1);
    for (char c : lookup_field(out, http::field::content_length).first) FUZZ_CHECK(c >= '0' && c <= '9');  // one plain number
    FUZZ_CHECK(lookup_field(out, http::field::transfer_encoding).count <= 1);
    FUZZ_CHECK(again.chunked() == (framing == body_framing::chunked));
    FUZZ_CHECK(again.content_length() == (framing == body_framing::length ? client.content_length() : boost::none));
    if (framing == body_framing::none) FUZZ_CHECK(again.is_done());

    // The origin sees one Host (RFC 9112 3.2): the authority the edge routed on, or for HTTP/1.0
    // without one the origin server's name.
    FUZZ_CHECK(lookup_field(out, http::field::host).count == 1);
    FUZZ_CHECK(lookup_field(out, http::field::host).first == host);
    if (t.authority.empty()) FUZZ_CHECK(req.version() < 11);
}

void run(std::string_view in, std::size_t max_request_header) {
    static router const rt(fixed_config());

    for (int exchange = 0; exchange < 8 && !in.empty(); ++exchange) {
        request_parser p;
        p.header_limit(static_cast<std::uint32_t>(max_request_header));
        p.body_limit(boost::none);
        std::size_t used = 0;
        if (!read_head(p, in, max_request_header, used)) return;  // 431 / 400 / closed: nothing forwarded
        FUZZ_CHECK(p.is_header_done());
        same_as_beast(p, in.substr(0, used), max_request_header);
        in.remove_prefix(used);

        // What passed the guard is within Beast's field size: no field line over max_field_line.
        auto const& req = p.get();
        for (auto const& f : req) FUZZ_CHECK(f.name_string().size() + f.value().size() + 2 <= max_field_line);
        (void)negotiate(lookup_field(req, http::field::accept).first);

        if (lookup_field(req, http::field::transfer_encoding).count && req.version() < 11) return;  // 400, close
        if (lookup_field(req, http::field::transfer_encoding).count) {
            failure f{};
            if (!judge_transfer_encoding(req, f).empty() || !p.chunked()) return;  // 400 / 501, close
        }
        std::string why;
        auto const t = resolve_target(req, max_url, why);
        FUZZ_CHECK(t.ok() == why.empty());
        if (!t.ok()) return;  // 414 / 400 / 501, close
        FUZZ_CHECK(req.target().size() <= max_url);
        FUZZ_CHECK(!t.origin_target().empty());
        FUZZ_CHECK(t.origin_target().starts_with('/') || t.origin_target() == "*");
        FUZZ_CHECK(lookup_field(req, http::field::host).count <= 1);
        if (!t.authority.empty()) FUZZ_CHECK(valid_host_port(t.authority));

        auto const* o = rt.route(t.host);
        FUZZ_CHECK(o != nullptr);  // "*" is last
        if (t.host == "api.example.test") FUZZ_CHECK(o->name == "exact");

        if (!t.origin_target().starts_with("/cdn-cgi/error/")) {
            // client_session::forward
            body_framing const framing = p.is_done() && !p.chunked() && !p.content_length() ? body_framing::none
                                         : p.chunked()                                      ? body_framing::chunked
                                                                                            : body_framing::length;
            // An HTTP/1.0 request without Host gets the first server's name (exchange.cpp).
            std::string_view const host = t.authority.empty() ? std::string_view(o->servers.front().text) : t.authority;
            forward_context const ctx{client_ip, "http", "0123456789abcdef-LOC", host, t.origin_target(), ""};
            std::string head;
            // The two lines the edge extends: "X-Forwarded-For: [values, ]ip\r\n", "CDN-Loop: [values, ]cloudflare\r\n".
            auto const xff = joined(req, "X-Forwarded-For").size(), loop = joined(req, "CDN-Loop").size();
            std::size_t const xff_line = 17 + xff + (xff ? 2 : 0) + client_ip.size() + 2;
            std::size_t const loop_line = 10 + loop + (loop ? 2 : 0) + 10 + 2;
            bool const too_long = xff_line > max_field_line || loop_line > max_field_line;
            bool const written = write_origin_request(head, req, framing, ctx);
            FUZZ_CHECK(written == !too_long);  // 431 exactly when one of them would pass max_field_line
            FUZZ_CHECK(origin_request_fits(req, client_ip) == written);  // forward()'s check before a connect
            if (!written) return;
            check_forwarded(p, t, host, framing, head);
        }
        if (!skip_body(p, in)) return;
        if (!p.keep_alive()) return;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view in(reinterpret_cast<char const*>(data), size);
    constexpr std::size_t default_limit = 32 * 1024;
    run(in, default_limit);
    if (size > default_limit) run(in, 1024 * 1024);
    return 0;
}
