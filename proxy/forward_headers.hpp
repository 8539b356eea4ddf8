#pragma once
// Header transforms on the way through the edge: what the origin sees (Cloudflare's request
// headers, hop-by-hop removed) and what the client sees (Server, CF-Ray). In place, on the message
// that is then serialized; run on the worker thread that owns the exchange.

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <string_view>

namespace edge522 {

namespace http = boost::beast::http;

// Removes the hop-by-hop fields (RFC 9110 7.6.1: Connection and the names it lists, Keep-Alive,
// Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authorization,
// Proxy-Authenticate). Content-Length and Host are never removed even when Connection names them.
// With `keep_upgrade` (a WebSocket upgrade being relayed) Upgrade and "Connection: upgrade" stay.
void remove_hop_by_hop(http::fields& f, bool keep_upgrade = false);

// True when the request asks for a protocol upgrade we relay (Connection: upgrade + Upgrade).
bool is_upgrade_request(http::request_header<> const& req);

struct forward_context {
    std::string_view client_ip;  // "203.0.113.1" / "2001:db8::1"
    std::string_view scheme;     // "http" or "https": the client's
    std::string_view ray_id;     // the same id the client gets back
};

// Toward the origin: hop-by-hop removed; CF-Connecting-IP set; X-Forwarded-For appended (comma, no
// space, as in Cloudflare's docs); X-Forwarded-Proto overwritten; CF-Ray, CF-Visitor,
// CF-IPCountry: XX set; CDN-Loop: cloudflare appended; HTTP/1.1 with keep-alive.
// The caller re-applies body framing (chunked / Content-Length) after this.
void prepare_origin_request(http::request_header<>& req, forward_context const& ctx);

// Toward the client: hop-by-hop removed (keeping upgrade fields on a 101), Server and CF-Ray set,
// X-Accel-* removed as Cloudflare does.
void prepare_client_response(http::response_header<>& res, std::string_view server_header,
                             std::string_view ray_id);

} // namespace edge522
