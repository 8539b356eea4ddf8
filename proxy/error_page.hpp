#pragma once
// The edge's own answers: Cloudflare-style error pages chosen by Accept (HTML, RFC 9457 JSON,
// Markdown), with the cache/security headers Cloudflare puts on them. Pure rendering: no I/O, no
// state; called on the worker thread that owns the client connection.

#include "proxy/failure.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace edge522 {

enum class body_format { html, json, problem_json, markdown };

// RFC 9110 content negotiation over what we can produce, q-values honoured, at equal q the first
// listed type wins. application/json -> json; application/problem+json -> problem_json;
// text/markdown or text/* (other than text/html) -> markdown; text/html, */*, absent or
// unparsable -> html.
body_format negotiate(std::string_view accept);

struct page_context {
    failure what;
    std::string_view host;        // the requested host (zone), without port
    std::string_view ray_id;      // "<16 hex>-<COLO>"
    std::string_view client_ip;
    std::string_view colo;        // shown as the edge's location label
    std::chrono::system_clock::time_point when;
    bool diagnostics = true;      // add the owner's diagnosis section + Edge522-Diagnosis header
    std::string_view diagnosis;   // one line: what was tried, how long, errno; "" = none
    std::string_view server_header = "cloudflare";
};

struct rendered_body {
    std::string content_type;     // e.g. "text/html; charset=UTF-8"
    std::string body;
};

rendered_body render_body(page_context const& ctx, body_format fmt);

// The complete response: status + reason phrase of the failure table, body by `fmt`, and the
// headers: Content-Type, Cache-Control, Expires, X-Frame-Options, Referrer-Policy, Retry-After (when
// the table has one), Server, CF-Ray, and Edge522-Diagnosis (when diagnostics and a diagnosis).
// Content-Length is set; keep-alive as given.
boost::beast::http::response<boost::beast::http::string_body>
make_error_response(page_context const& ctx, body_format fmt, unsigned http_version, bool keep_alive);

} // namespace edge522
