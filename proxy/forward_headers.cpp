#include "proxy/forward_headers.hpp"

#include <boost/beast/http/rfc7230.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace edge522 {

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    return boost::beast::iequals(a, b);
}

bool connection_has(http::fields const& f, std::string_view token) {
    for (auto const& c : http::token_list{f[http::field::connection]})
        if (iequals(c, token)) return true;
    return false;
}

// RFC 9110 8.6: a proxy MUST replace duplicated Content-Length values (several fields, or a list
// "5, 5", both of which the parser accepts when every value is equal) with a single field before
// forwarding, or the next hop may frame the body differently.
void single_content_length(http::fields& f) {
    auto it = f.find(http::field::content_length);
    if (it == f.end()) return;
    std::string_view v = it->value();
    if (f.count(http::field::content_length) == 1 && v.find(',') == std::string_view::npos) return;
    v.remove_prefix(std::min(v.find_first_not_of(", \t"), v.size()));
    std::string const one(v.substr(0, v.find_first_of(", \t")));
    f.set(http::field::content_length, one);
}

} // namespace

bool is_upgrade_request(http::request_header<> const& req) {
    return req.count(http::field::upgrade) > 0 && connection_has(req, "upgrade");
}

void remove_hop_by_hop(http::fields& f, bool keep_upgrade) {
    // Names listed in Connection are hop-by-hop too; collect first, the erase invalidates views.
    std::vector<std::string> listed;
    for (auto const& c : http::token_list{f[http::field::connection]}) {
        if (iequals(c, "content-length") || iequals(c, "host")) continue;
        if (keep_upgrade && iequals(c, "upgrade")) continue;
        if (iequals(c, "close") || iequals(c, "keep-alive")) continue;
        listed.emplace_back(c);
    }
    for (auto const& name : listed) f.erase(name);

    static constexpr std::array fixed{
        http::field::keep_alive, http::field::proxy_connection, http::field::te,
        http::field::trailer, http::field::transfer_encoding, http::field::proxy_authorization,
        http::field::proxy_authenticate};
    for (auto name : fixed) f.erase(name);
    if (keep_upgrade) {
        f.set(http::field::connection, "upgrade");
    } else {
        f.erase(http::field::connection);
        f.erase(http::field::upgrade);
    }
}

void prepare_origin_request(http::request_header<>& req, forward_context const& ctx) {
    bool const upgrade = is_upgrade_request(req);
    remove_hop_by_hop(req, upgrade);
    single_content_length(req);
    // A 100-continue is answered by the edge itself (it reads the body only when it forwards it).
    req.erase(http::field::expect);

    req.set("CF-Connecting-IP", ctx.client_ip);
    if (auto xff = req["X-Forwarded-For"]; !xff.empty()) {
        std::string v;
        v.reserve(xff.size() + 1 + ctx.client_ip.size());
        v.append(xff).append(",").append(ctx.client_ip);
        req.set("X-Forwarded-For", v);
    } else {
        req.set("X-Forwarded-For", ctx.client_ip);
    }
    req.set("X-Forwarded-Proto", ctx.scheme);
    req.set("CF-Ray", ctx.ray_id);
    req.set("CF-Visitor", ctx.scheme == "https" ? R"({"scheme":"https"})" : R"({"scheme":"http"})");
    req.set("CF-IPCountry", "XX");
    if (auto loop = req["CDN-Loop"]; !loop.empty()) {
        std::string v(loop);
        v.append(", cloudflare");
        req.set("CDN-Loop", v);
    } else {
        req.set("CDN-Loop", "cloudflare");
    }
    req.version(11);
    if (!upgrade) req.set(http::field::connection, "keep-alive");
}

void prepare_client_response(http::response_header<>& res, std::string_view server_header,
                             std::string_view ray_id) {
    bool const upgrade = res.result() == http::status::switching_protocols;
    remove_hop_by_hop(res, upgrade);
    single_content_length(res);
    for (auto name : {"X-Accel-Buffering", "X-Accel-Charset", "X-Accel-Limit-Rate", "X-Accel-Redirect"})
        res.erase(name);
    res.set(http::field::server, server_header);
    res.set("CF-Ray", ray_id);
}

} // namespace edge522
