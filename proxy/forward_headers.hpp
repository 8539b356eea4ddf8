#pragma once
// Header transforms on the way through the edge, written straight into the outgoing head: what the
// origin sees (Cloudflare's request headers, hop-by-hop removed, origin-form target) and what the
// client sees (Server, CF-Ray, Date, the framing the edge relays with). The parsed message is only
// read, never modified: no Beast field setter runs per request (they throw over 64 KiB), and every
// field the edge builds or extends is bounded by max_field_line. Pure functions; called on the
// worker thread that owns the exchange.

#include "proxy/request_parser.hpp"
#include "proxy/response_parser.hpp"

#include <boost/beast/http/field.hpp>

#include <string>
#include <string_view>

namespace edge522 {

namespace http = boost::beast::http;

// True when the request asks for a protocol upgrade we relay (Connection: upgrade + Upgrade).
bool is_upgrade_request(received_request const& req);

// All values of a field joined with ", " (RFC 9110 5.3); "" when absent.
std::string joined(received_request const& req, std::string_view name);

enum class body_framing {
    none,     // no body (or, toward a client, delimited by the close)
    length,   // Content-Length: the single value the message had
    chunked,  // Transfer-Encoding as the message had it, the last coding chunked
    rechunk,  // toward a client only: "Transfer-Encoding: chunked" added by the edge
};

struct forward_context {
    std::string_view client_ip;  // "203.0.113.1" / "2001:db8::1"
    std::string_view scheme;     // "http" or "https": the client's
    std::string_view ray_id;     // the same id the client gets back
    std::string_view host;       // the Host the origin gets (an absolute-form target's authority wins)
    std::string_view target;     // the origin-form target the origin gets
    std::string_view drop;       // one more field never forwarded (the chaos header); "" = none
};

// Toward the origin: "METHOD target HTTP/1.1", Host, the client's fields less hop-by-hop and less
// the ones the edge sets, then CF-Connecting-IP, X-Forwarded-For (every value the client sent,
// joined, then the client's address, ", "-separated as nginx and Cloudflare do), X-Forwarded-Proto
// (overwritten), CF-Ray, CF-Visitor, CF-IPCountry: XX, CDN-Loop (appended), the body framing and
// Connection (keep-alive, or upgrade for a relayed upgrade). Appends to `out`. Returns false, with
// `out` unusable, when a field the edge extends would exceed max_field_line (the caller answers 431).
bool write_origin_request(std::string& out, received_request const& req, body_framing framing,
                          forward_context const& ctx);

// What write_origin_request's check will say, without building the head: X-Forwarded-For and
// CDN-Loop, extended, within max_field_line. Asked before a new connection is made, so that a 431
// comes before any connect while the head itself is built only once connected (a request pending
// on a connect holds no head, and a 522 never pays for one). fuzz_request_head checks the two agree.
bool origin_request_fits(received_request const& req, std::string_view client_ip) noexcept;

struct response_context {
    std::string_view server_header;  // "cloudflare"
    std::string_view ray_id;
    std::string_view date;           // IMF-fixdate, added when the origin sent no Date
    body_framing framing;            // how the edge relays the body to this client
    bool upgrade = false;            // relaying a 101: Upgrade and Connection: upgrade stay
    bool keep_alive = true;          // the client connection stays open after this response
    bool http10_client = false;      // then keep-alive must be announced
    bool trailers = false;           // the client accepts trailers (TE: trailers): Trailer stays
};

// Toward the client: "HTTP/1.1 <status> <reason>" (the origin's reason, or the standard one when it
// sent none), the origin's fields less hop-by-hop, X-Accel-*, Server, CF-Ray and its framing fields,
// then Server, CF-Ray, Date (when absent), the framing and Connection. Appends to `out`.
void write_client_response(std::string& out, relayed_response const& res, response_context const& ctx);

// The trailer section of a chunked body (after the last chunk's size line): the fields the parser
// added after the head (`head_fields` of them), then CRLF. A request's, or an origin response's.
void write_trailers(std::string& out, parsed_head const& message, std::size_t head_fields);

} // namespace edge522
