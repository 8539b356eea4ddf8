// bytes -> the client request head path of proxy/client_session.cpp, without the sockets:
// Beast request_parser<buffer_body> (header_limit = max_request_header, body_limit none), then the
// production decisions (400 for Transfer-Encoding in HTTP/1.0, 501 for a transfer-coding other than
// chunked, 400 for HTTP/1.1 without Host or with more than one), route by host_without_port(Host)), prepare_origin_request, chunked re-applied, and
// wire::append_request_head. The head the edge would send to the origin is parsed again by a fresh
// Beast parser: it must parse, say the same thing, carry no hop-by-hop field and not frame the
// body differently from what the client sent (no request smuggling introduced by the edge).
// Pipelined requests in the same bytes are taken one after the other, as the session does.
// Each input runs with the default max_request_header (32 KiB) and, when longer than that, again with
// a large one (1 MiB; the config accepts up to 64 MiB): then one field can pass 64 KiB, the most that
// Beast's basic_fields holds (more throws std::length_error) -- input up to 256 KiB (scripts/fuzz.sh).

#include "config/config.hpp"
#include "proxy/error_page.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/router.hpp"
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

using request_parser = http::request_parser<http::buffer_body>;

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

// Feeds `in` to `p` the way async_read_header does with the whole input already buffered.
// Returns the bytes consumed.
std::size_t put_header(request_parser& p, std::string_view in, boost::system::error_code& ec) {
    std::size_t used = p.put(boost::asio::buffer(in.data(), in.size()), ec);
    if (ec == http::error::need_more) {
        ec = {};
        if (p.got_some()) p.put_eof(ec);
        else ec = http::error::end_of_stream;
    }
    return used;
}

// The body, consumed into a scratch buffer (as the relay loop does) so that the next pipelined
// request can be parsed. Returns false when the rest of the input is body / broken.
bool skip_body(request_parser& p, std::string_view& in) {
    char scratch[4096];
    while (!p.is_done()) {
        p.get().body().data = scratch;
        p.get().body().size = sizeof scratch;
        boost::system::error_code ec;
        std::size_t used = p.put(boost::asio::buffer(in.data(), in.size()), ec);
        in.remove_prefix(used);
        if (ec == http::error::need_buffer) continue;
        if (ec) return false;
        if (used == 0 && !p.is_done()) return false;  // needs more than we have
    }
    return true;
}

bool is_hop_by_hop(std::string_view name) {
    for (std::string_view h : {"keep-alive", "te", "trailer", "proxy-connection", "proxy-authorization",
                               "proxy-authenticate"})
        if (boost::beast::iequals(name, h)) return true;
    return false;
}

// Checks one request the edge decided to forward. `req` has been through the production transforms.
void check_forwarded(http::request_header<> const& req, std::string const& head, bool chunked,
                     boost::optional<std::uint64_t> content_length, std::string const& routed_host,
                     bool upgrade) {
    request_parser again;
    again.header_limit(UINT32_MAX);
    again.body_limit(boost::none);
    boost::system::error_code ec;
    std::size_t used = again.put(boost::asio::buffer(head.data(), head.size()), ec);
    if (ec) std::fprintf(stderr, "reparse: %s\n---\n%s---\n", ec.message().c_str(), head.c_str());
    FUZZ_CHECK(!ec);
    FUZZ_CHECK(again.is_header_done());
    FUZZ_CHECK(used == head.size());
    auto const& out = again.get();

    // The same message: method, target, version, and every field in order.
    FUZZ_CHECK(out.method_string() == req.method_string());
    FUZZ_CHECK(out.target() == req.target());
    FUZZ_CHECK(out.version() == 11);
    auto a = req.begin();
    auto b = out.begin();
    for (; a != req.end() && b != out.end(); ++a, ++b) {
        FUZZ_CHECK(boost::beast::iequals(a->name_string(), b->name_string()));
        FUZZ_CHECK(a->value() == b->value());
    }
    FUZZ_CHECK(a == req.end() && b == out.end());

    // No hop-by-hop field survives, Connection says only keep-alive (or upgrade on an upgrade).
    for (auto const& f : out) {
        FUZZ_CHECK(!is_hop_by_hop(f.name_string()));
        if (f.name() == http::field::upgrade) FUZZ_CHECK(upgrade);
    }
    FUZZ_CHECK(out.count(http::field::connection) == 1);
    for (auto const& tok : http::token_list{out[http::field::connection]})
        FUZZ_CHECK(upgrade ? boost::beast::iequals(tok, "upgrade") : boost::beast::iequals(tok, "keep-alive"));
    FUZZ_CHECK(out.count(http::field::expect) == 0);
    FUZZ_CHECK(out.count("CF-Connecting-IP") == 1 && out["CF-Connecting-IP"] == "203.0.113.9");
    FUZZ_CHECK(out.count("CF-Ray") == 1);
    FUZZ_CHECK(out.count("X-Forwarded-For") == 1);

    // Framing: exactly what the client framed, one way only.
    FUZZ_CHECK(!(out.count(http::field::content_length) && out.count(http::field::transfer_encoding)));
    FUZZ_CHECK(out.count(http::field::content_length) <= 1);
    for (char c : out[http::field::content_length]) FUZZ_CHECK(c >= '0' && c <= '9');  // one plain number
    FUZZ_CHECK(out.count(http::field::transfer_encoding) <= 1);
    FUZZ_CHECK(again.chunked() == chunked);
    if (chunked) FUZZ_CHECK(out[http::field::transfer_encoding] == "chunked");
    FUZZ_CHECK(again.content_length() == content_length);
    if (!chunked && !content_length) FUZZ_CHECK(again.is_done());  // no body on either side

    // The origin sees the host the edge routed on (one Host, the same name).
    if (!routed_host.empty()) {
        FUZZ_CHECK(out.count(http::field::host) == 1);
        FUZZ_CHECK(host_without_port(out[http::field::host]) == routed_host);
    }
}

} // namespace

static void run(std::string_view in, std::uint32_t max_request_header) {
    static router const rt(fixed_config());

    for (int exchange = 0; exchange < 8 && !in.empty(); ++exchange) {
        request_parser p;
        p.header_limit(max_request_header);
        p.body_limit(boost::none);
        boost::system::error_code ec;
        std::size_t used = put_header(p, in, ec);
        if (ec) {
            // Production answers 431 / 400 or closes quietly; nothing is forwarded.
            FUZZ_CHECK(!p.is_header_done() || ec);
            return;
        }
        FUZZ_CHECK(p.is_header_done());
        in.remove_prefix(used);

        auto& req = p.get();
        std::string const host = host_without_port(req[http::field::host]);
        (void)negotiate(req[http::field::accept]);

        if (req.count(http::field::transfer_encoding) && req.version() < 11) return;  // 400, close
        if (req.count(http::field::transfer_encoding) && !p.chunked()) return;        // 501, close
        if ((host.empty() && req.version() >= 11) || req.count(http::field::host) > 1)
            return;                                                                    // 400, close

        auto const* o = rt.route(host);
        FUZZ_CHECK(o != nullptr);  // "*" is last
        if (host == "api.example.test") FUZZ_CHECK(o->name == "exact");

        bool const forwarded = !req.target().starts_with("/cdn-cgi/error/");
        if (forwarded) {
            bool const chunked = p.chunked();
            auto const content_length = p.content_length();
            bool const upgrade = is_upgrade_request(req);
            prepare_origin_request(req, forward_context{"203.0.113.9", "http", "0123456789abcdef-LOC"});
            if (chunked) req.chunked(true);
            std::string head;
            wire::append_request_head(head, req);
            check_forwarded(req, head, chunked, content_length, host, upgrade);
        }
        if (!skip_body(p, in)) return;
        if (!p.keep_alive()) return;
    }
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view in(reinterpret_cast<char const*>(data), size);
    constexpr std::uint32_t default_limit = 32 * 1024;
    run(in, default_limit);
    if (size > default_limit) run(in, 1024 * 1024);
    return 0;
}
