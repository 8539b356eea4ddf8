#pragma once
// The edge's own answers: Cloudflare-style error pages chosen by Accept (HTML, RFC 9457 JSON,
// Markdown), with the cache/security headers Cloudflare puts on them.
//
// `error_pages` is built once per loaded config: one template per (failure, body_format) with
// everything that does not depend on the request already formatted (status line, reason,
// Retry-After, the cache/security headers, Server, colo, titles, prose, CSS, icons). A request
// only fills in its own fields (ray id, time, client ip, host, diagnosis), each cleaned, escaped
// for where it lands and bounded (see page_limits), and gets its bytes appended to a string:
// no Beast field setter per request, no throw. Immutable after construction, so every worker
// thread may share one read-only.
//
// render_body() / make_error_response() are the convenience forms (tests, tools): they build the
// one template they need and fill it, so there is a single renderer.

#include "proxy/failure.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace edge522 {

enum class body_format { html, json, problem_json, markdown };

// RFC 9110 content negotiation over what we can produce, q-values honoured, at equal q the first
// listed type wins. application/json -> json; application/problem+json -> problem_json;
// text/markdown or text/* (other than text/html) -> markdown; text/html, */*, absent or
// unparsable -> html.
body_format negotiate(std::string_view accept);

// Every network-supplied value is cleaned first (invalid UTF-8 -> U+FFFD, control bytes dropped,
// tab -> space) and then escaped for its place (HTML, JSON string, Markdown code span, header
// line). Each occurrence is cut at a character boundary where its escaped form would pass these
// many bytes, and "…" ("..." in the header) marks the cut: no request can make a page or a header
// line unbounded.
struct page_limits {
    static constexpr std::size_t host = 1024;
    static constexpr std::size_t client_ip = 128;
    static constexpr std::size_t ray_id = 128;
    static constexpr std::size_t diagnosis = 4096;         // in the body
    static constexpr std::size_t diagnosis_header = 1024;  // the Edge522-Diagnosis line
};

// The per-request fields.
struct page_request {
    failure what;
    std::string_view host, ray_id, client_ip, diagnosis;  // diagnosis "" = none
    std::chrono::system_clock::time_point when;
};

namespace detail {
struct page_set;
}

class error_pages {
public:
    // `colo` labels the edge box; `server_header` is the Server value; `diagnostics` adds the
    // owner's "What the edge saw" section and the Edge522-Diagnosis header when a request has a
    // diagnosis.
    error_pages(std::string_view colo, std::string_view server_header, bool diagnostics);
    ~error_pages();
    error_pages(error_pages&&) noexcept;  // a moved-from object may only be destroyed or assigned
    error_pages& operator=(error_pages&&) noexcept;
    error_pages(error_pages const&) = delete;
    error_pages& operator=(error_pages const&) = delete;

    // Appends the complete response to `out`: status line ALWAYS "HTTP/1.1 <code> <reason>",
    // Date, Content-Type, Cache-Control, Expires, X-Frame-Options, Referrer-Policy, Retry-After
    // (when the failure table has one), Server, CF-Ray, Edge522-Diagnosis (diagnostics and a
    // diagnosis), Content-Length, then `Connection: close` when !keep_alive or
    // `Connection: keep-alive` when keep_alive && http10_client, a blank line, and the body
    // unless head_only (HEAD: Content-Length stays the GET's).
    void write(std::string& out, page_request const& r, body_format fmt, bool keep_alive,
               bool http10_client, bool head_only) const;

    // Appends the answer to a plain HTTP request on an HTTPS port, as Cloudflare's (nginx's) edge
    // gives it: 400, "The plain HTTP request was sent to HTTPS port", Connection: close.
    void write_plain_http_on_tls(std::string& out, std::string_view ray_id) const;

    // Appends only the body (what write() sends after the blank line).
    void write_body(std::string& out, page_request const& r, body_format fmt) const;

    // Bytes held by the templates (for the curious; about 0.3 MiB).
    std::size_t footprint() const noexcept;

private:
    std::unique_ptr<detail::page_set const> set_;
};

// "text/html; charset=UTF-8", "application/json; charset=utf-8", ...
std::string_view content_type(body_format fmt) noexcept;

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

// One page, rendered through a template built for it alone (error_pages builds all of them once).
rendered_body render_body(page_context const& ctx, body_format fmt);

// The complete response as a Beast message: what error_pages::write() produces, parsed back,
// with the version set to `http_version` (write() itself always says HTTP/1.1).
boost::beast::http::response<boost::beast::http::string_body>
make_error_response(page_context const& ctx, body_format fmt, unsigned http_version, bool keep_alive);

} // namespace edge522
