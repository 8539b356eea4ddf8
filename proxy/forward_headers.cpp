#include "proxy/forward_headers.hpp"

#include "proxy/http_io.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/status.hpp>

#include <boost/container/small_vector.hpp>

#include <array>
#include <cstring>

namespace edge522 {

namespace {

using boost::beast::iequals;

bool connection_lists(parsed_head const& f, std::string_view token) {
    // Several Connection lines need not be adjacent.
    for (auto const& field : f)
        if (field.name() == http::field::connection)
            for (auto const& t : http::token_list{field.value()})
                if (iequals(t, token)) return true;
    return false;
}

bool hop_by_hop_field(http::field name) noexcept {
    switch (name) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::proxy_authorization:
    case http::field::proxy_authenticate:
    case http::field::trailer:
        return true;
    default:
        return false;
    }
}

// The field names a message's Connection fields list (RFC 9110 7.6.1), collected once per message.
class connection_options {
public:
    explicit connection_options(parsed_head const& f) {
        for (auto const& field : f) {
            if (field.name() != http::field::connection) continue;
            auto const v = field.value();
            if (iequals(v, "keep-alive") || iequals(v, "close")) continue;  // the usual value, no list walk
            for (auto const& t : http::token_list{v})
                if (!iequals(t, "keep-alive") && !iequals(t, "close")) names_.push_back(t);
        }
    }
    // Whether `name` is hop-by-hop in this message: fixed, or listed (Content-Length and Host never).
    bool hop_by_hop(http::field name, std::string_view text) const {
        if (hop_by_hop_field(name)) return true;
        if (names_.empty() || name == http::field::content_length || name == http::field::host) return false;
        for (auto n : names_)
            if (iequals(n, text)) return true;
        return false;
    }

private:
    boost::container::small_vector<std::string_view, 4> names_;
};

// Fields the edge writes itself toward the origin (the client's are dropped or merged).
bool set_by_edge_toward_origin(http::field name, std::string_view text) {
    switch (name) {
    case http::field::host:
    case http::field::expect:  // a 100-continue is answered by the edge itself
    case http::field::content_length:
        return true;
    case http::field::unknown:
        break;
    default:
        return false;
    }
    for (auto n : {"X-Forwarded-For", "X-Forwarded-Proto", "CDN-Loop", "CF-Connecting-IP", "CF-Ray",
                   "CF-Visitor", "CF-IPCountry"})
        if (iequals(text, n)) return true;
    return false;
}

bool set_by_edge_toward_client(http::field name, std::string_view text) {
    switch (name) {
    case http::field::server:
    case http::field::content_length:
        return true;
    case http::field::unknown:
        break;
    default:
        return false;
    }
    // Cloudflare removes these from origin responses (CLOUDFLARE.md, request/response headers).
    for (auto n : {"CF-Ray", "X-Accel-Buffering", "X-Accel-Charset", "X-Accel-Limit-Rate", "X-Accel-Redirect"})
        if (iequals(text, n)) return true;
    return false;
}

void field_line(std::string& out, std::string_view name, std::string_view value) {
    // One growth and four copies (four appends cost four capacity checks: measurable per field).
    auto const at = out.size();
    out.resize(at + name.size() + value.size() + 4);
    char* p = out.data() + at;
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    std::memcpy(p, ": ", 2);
    p += 2;
    if (!value.empty()) std::memcpy(p, value.data(), value.size());
    p += value.size();
    std::memcpy(p, "\r\n", 2);
}

// The single value of (possibly repeated, possibly listed) equal Content-Length values (RFC 9110
// 8.6: a proxy forwards one); the parser has already rejected differing ones.
std::string_view single_content_length(parsed_head const& f) {
    std::string_view v = first_value(f, http::field::content_length);
    auto const first = v.find_first_not_of(", \t");
    if (first == std::string_view::npos) return {};
    v.remove_prefix(first);
    return v.substr(0, v.find_first_of(", \t"));
}

// Every value of a repeated field, in order, joined with ", " (RFC 9110 5.3).
void append_joined(std::string& out, parsed_head const& f, std::string_view name) {
    bool first = true;
    for (auto const& x : f) {
        if (x.value().empty() || !iequals(x.name_string(), name)) continue;
        if (!first) out.append(", ");
        out.append(x.value());
        first = false;
    }
}

// The length of what append_joined(f, name) appends.
std::size_t joined_length(parsed_head const& f, std::string_view name) noexcept {
    std::size_t n = 0;
    for (auto const& x : f) {
        if (x.value().empty() || !iequals(x.name_string(), name)) continue;
        n += (n ? 2 : 0) + x.value().size();
    }
    return n;
}

// The length of "NAME: [the client's values, ]ADDED\r\n", the line the edge extends.
std::size_t extended_line_length(parsed_head const& f, std::string_view name, std::string_view added) noexcept {
    auto const values = joined_length(f, name);
    return name.size() + 2 + values + (values ? 2 : 0) + added.size() + 2;
}

// The framing fields of a message relayed as `framing`: its single Content-Length, its
// Transfer-Encoding as it came ("gzip, chunked" stays "gzip, chunked": never silently reduced), or
// the edge's own chunking.
void append_framing(std::string& out, parsed_head const& f, body_framing framing) {
    switch (framing) {
    case body_framing::length:
        field_line(out, "Content-Length", single_content_length(f));
        break;
    case body_framing::chunked:
        out.append("Transfer-Encoding: ");
        append_joined(out, f, "Transfer-Encoding");
        out.append("\r\n");
        break;
    case body_framing::rechunk:
        out.append("Transfer-Encoding: chunked\r\n");
        break;
    case body_framing::none:
        break;
    }
}

} // namespace

bool origin_request_fits(received_request const& req, std::string_view client_ip) noexcept {
    return extended_line_length(req, "X-Forwarded-For", client_ip) <= max_field_line &&
           extended_line_length(req, "CDN-Loop", "cloudflare") <= max_field_line;
}

bool is_upgrade_request(received_request const& req) {
    // RFC 9110 7.8: an Upgrade in an HTTP/1.0 request is ignored (and, hop-by-hop, not forwarded).
    return req.version() >= 11 && has_field(req, http::field::upgrade) && connection_lists(req, "upgrade");
}

std::string joined(received_request const& req, std::string_view name) {
    std::string out;
    append_joined(out, req, name);
    return out;
}

bool write_origin_request(std::string& out, received_request const& req, body_framing framing,
                          forward_context const& ctx) {
    bool const upgrade = is_upgrade_request(req);
    connection_options const listed(req);
    out.append(req.method_string()).append(" ").append(ctx.target).append(" HTTP/1.1\r\n");
    if (!ctx.host.empty()) field_line(out, "Host", ctx.host);
    for (auto const& field : req) {
        auto const name = field.name_string();
        if (set_by_edge_toward_origin(field.name(), name)) continue;
        if (!ctx.drop.empty() && iequals(name, ctx.drop)) continue;
        if (upgrade && field.name() == http::field::upgrade) {
            field_line(out, name, field.value());
            continue;
        }
        if (listed.hop_by_hop(field.name(), name)) continue;
        field_line(out, name, field.value());
    }
    field_line(out, "CF-Connecting-IP", ctx.client_ip);

    auto const line_start = out.size();
    out.append("X-Forwarded-For: ");
    auto const before = out.size();
    append_joined(out, req, "X-Forwarded-For");
    if (out.size() > before) out.append(", ");
    out.append(ctx.client_ip).append("\r\n");
    if (out.size() - line_start > max_field_line) return false;

    field_line(out, "X-Forwarded-Proto", ctx.scheme);
    field_line(out, "CF-Ray", ctx.ray_id);
    field_line(out, "CF-Visitor", ctx.scheme == "https" ? R"({"scheme":"https"})" : R"({"scheme":"http"})");
    field_line(out, "CF-IPCountry", "XX");

    auto const loop_start = out.size();
    out.append("CDN-Loop: ");
    auto const loop_before = out.size();
    append_joined(out, req, "CDN-Loop");
    if (out.size() > loop_before) out.append(", ");
    out.append("cloudflare\r\n");
    if (out.size() - loop_start > max_field_line) return false;

    append_framing(out, req, framing);
    out.append(upgrade ? "Connection: upgrade\r\n\r\n" : "Connection: keep-alive\r\n\r\n");
    return true;
}

void write_client_response(std::string& out, relayed_response const& res, response_context const& ctx) {
    unsigned const code = res.result_int();
    out.append("HTTP/1.1 ");
    out += static_cast<char>('0' + code / 100 % 10);
    out += static_cast<char>('0' + code / 10 % 10);
    out += static_cast<char>('0' + code % 10);
    out += ' ';
    std::string_view reason = res.reason();
    if (reason.empty()) reason = http::obsolete_reason(static_cast<http::status>(code));
    out.append(reason).append("\r\n");

    connection_options const listed(res);
    bool has_date = false;
    for (auto const& field : res) {
        auto const name = field.name_string();
        if (set_by_edge_toward_client(field.name(), name)) continue;
        if (field.name() == http::field::date) has_date = true;
        if (ctx.upgrade && field.name() == http::field::upgrade) {
            field_line(out, name, field.value());
            continue;
        }
        if (ctx.trailers && field.name() == http::field::trailer) {
            field_line(out, name, field.value());
            continue;
        }
        if (listed.hop_by_hop(field.name(), name)) continue;
        field_line(out, name, field.value());
    }
    field_line(out, "Server", ctx.server_header);
    field_line(out, "CF-Ray", ctx.ray_id);
    if (!has_date && !ctx.date.empty()) field_line(out, "Date", ctx.date);
    append_framing(out, res, ctx.framing);
    if (ctx.upgrade) out.append("Connection: upgrade\r\n");
    else if (!ctx.keep_alive) out.append("Connection: close\r\n");
    else if (ctx.http10_client) out.append("Connection: keep-alive\r\n");
    out.append("\r\n");
}

void write_trailers(std::string& out, parsed_head const& message, std::size_t head_fields) {
    connection_options const listed(message);
    std::size_t i = 0;
    for (auto const& field : message) {
        if (i++ < head_fields) continue;
        if (listed.hop_by_hop(field.name(), field.name_string()) || field.name() == http::field::content_length ||
            field.name() == http::field::host)
            continue;
        field_line(out, field.name_string(), field.value());
    }
    out.append("\r\n");
}

} // namespace edge522
