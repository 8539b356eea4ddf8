#include "proxy/request_target.hpp"

#include "proxy/router.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <charconv>

namespace edge522 {

namespace http = boost::beast::http;

namespace {

request_target refuse(failure f, std::string why) {
    request_target t;
    t.error = f;
    t.why = std::move(why);
    return t;
}

std::string lowercase_host(std::string_view authority) {
    auto h = host_without_port(authority);
    std::transform(h.begin(), h.end(), h.begin(),
                   [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
    return h;
}

} // namespace

bool valid_host_port(std::string_view authority) noexcept {
    if (authority.empty()) return false;
    auto r = boost::urls::parse_authority(authority);
    if (!r || r->has_userinfo() || r->encoded_host().empty()) return false;
    if (r->has_port()) {
        auto const port = r->port();
        unsigned value = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (port.empty() || ec != std::errc{} || p != port.data() + port.size() || value > 65535) return false;
    }
    return true;
}

request_target resolve_target(http::request_header<> const& req, std::size_t max_url) {
    std::string_view const target = req.target();
    if (target.size() > max_url)
        return refuse(failure::uri_too_long, "request target of " + std::to_string(target.size()) +
                                                 " bytes, over the " + std::to_string(max_url) + "-byte limit");
    if (req.count(http::field::host) > 1) return refuse(failure::bad_request, "more than one Host field");
    std::string_view const host_field = req[http::field::host];

    request_target t;
    if (target.starts_with('/')) {
        t.target = target;
        t.authority = host_field;
    } else if (target == "*") {
        if (req.method() != http::verb::options) return refuse(failure::bad_request, "\"*\" target outside OPTIONS");
        t.target = target;
        t.authority = host_field;
    } else if (req.method() == http::verb::connect) {
        return refuse(failure::not_implemented, "CONNECT is not supported by an edge");
    } else {
        // absolute-form (RFC 9112 3.2.2): the target's authority wins over Host.
        auto u = boost::urls::parse_absolute_uri(target);
        if (!u) return refuse(failure::bad_request, "request target is neither origin-form nor a valid absolute URI");
        if (!boost::beast::iequals(u->scheme(), "http") && !boost::beast::iequals(u->scheme(), "https"))
            return refuse(failure::bad_request, "absolute-form target with a scheme other than http or https");
        if (u->has_userinfo()) return refuse(failure::bad_request, "absolute-form target with userinfo");
        t.authority = u->encoded_host_and_port();
        if (!valid_host_port(t.authority)) return refuse(failure::bad_request, "absolute-form target without a valid host");
        // The path and query, as a view into the target: the origin gets origin-form.
        auto const path = u->encoded_path();
        if (path.empty()) {
            // "http://h" or "http://h?q": the origin-form is "/" (+ the query).
            t.target_buf = "/";
            if (u->has_query()) t.target_buf.append("?").append(u->encoded_query());
        } else {
            // The path and query: the rest of the target (a fragment is not part of a request target).
            t.target = std::string_view(path.data(), static_cast<std::size_t>(target.data() + target.size() - path.data()));
        }
        t.absolute_form = true;
    }
    if (!t.absolute_form) {
        if (host_field.empty()) {
            if (req.version() >= 11) return refuse(failure::bad_request, "HTTP/1.1 request without a Host");
        } else if (!valid_host_port(host_field)) {
            return refuse(failure::bad_request, "Host is not a valid host[:port]");
        }
    }
    t.host = lowercase_host(t.authority);
    return t;
}

} // namespace edge522
