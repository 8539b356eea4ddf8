#include "proxy/request_target.hpp"

#include "proxy/http_io.hpp"

#include "proxy/router.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <charconv>

namespace edge522 {

namespace http = boost::beast::http;

namespace {

request_target refuse(failure f, std::string& why, std::string reason) {
    request_target t;
    t.error = f;
    why = std::move(reason);
    return t;
}

std::string lowercase_host(std::string_view authority) {
    auto h = host_without_port(authority);
    std::transform(h.begin(), h.end(), h.begin(),
                   [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
    return h;
}

// RFC 9110 tchar.
bool is_tchar(char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim_ows(std::string_view v) noexcept {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

} // namespace

std::string judge_transfer_encoding(parsed_head const& fields, failure& error) {
    // Every element of every field, in order: token [; parameters].
    bool chunked_seen = false;
    bool any = false;
    for (auto const& field : fields) {
        if (field.name() != http::field::transfer_encoding) continue;
        any = true;
        std::string_view list = field.value();
        while (!list.empty()) {
            auto const comma = list.find(',');
            std::string_view element = trim_ows(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            if (element.empty()) continue;  // RFC 9110 5.6.1: empty list elements are ignored
            std::string_view const coding = trim_ows(element.substr(0, element.find(';')));
            if (coding.empty() || !std::all_of(coding.begin(), coding.end(), is_tchar)) {
                error = failure::bad_request;
                return "Transfer-Encoding is not a list of transfer codings";
            }
            if (chunked_seen) {
                error = failure::not_implemented;
                return "a transfer coding after chunked";
            }
            if (boost::beast::iequals(coding, "chunked")) {
                chunked_seen = true;
                continue;
            }
            static constexpr std::string_view known[] = {"gzip", "x-gzip", "deflate", "compress", "x-compress"};
            if (std::none_of(std::begin(known), std::end(known), [&](auto k) { return boost::beast::iequals(coding, k); })) {
                error = failure::not_implemented;
                return "unsupported transfer coding";
            }
        }
    }
    if (any && !chunked_seen) {
        error = failure::not_implemented;
        return "Transfer-Encoding not ending in chunked";
    }
    return {};
}

namespace {
// The common case without a full parse: a name or IPv4 address of letters, digits, dots and
// hyphens (a subset of RFC 3986's reg-name), with an optional port of 1-5 digits up to 65535.
// Anything else (IPv6 literals, percent-encoding, other sub-delims) takes Boost.URL's parse.
bool plain_host_port(std::string_view a) noexcept {
    std::size_t i = 0;
    auto const name_char = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    };
    while (i < a.size() && name_char(a[i])) ++i;
    if (i == 0) return false;
    if (i == a.size()) return true;
    if (a[i] != ':') return false;
    auto const port = a.substr(i + 1);
    if (port.empty() || port.size() > 5) return false;
    unsigned value = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value <= 65535;
}
} // namespace

bool valid_host_port(std::string_view authority) noexcept {
    if (authority.empty()) return false;
    if (plain_host_port(authority)) return true;
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

request_target resolve_target(received_request const& req, std::size_t max_url, std::string& why) {
    std::string_view const target = req.target();
    if (target.size() > max_url)
        return refuse(failure::uri_too_long, why, "request target of " + std::to_string(target.size()) +
                                                 " bytes, over the " + std::to_string(max_url) + "-byte limit");
    auto const host = lookup_field(req, http::field::host);
    if (host.count > 1) return refuse(failure::bad_request, why, "more than one Host field");
    std::string_view const host_field = host.first;

    request_target t;
    if (target.starts_with('/')) {
        t.target = target;
        t.authority = host_field;
    } else if (target == "*") {
        if (req.method() != http::verb::options) return refuse(failure::bad_request, why, "\"*\" target outside OPTIONS");
        t.target = target;
        t.authority = host_field;
    } else if (req.method() == http::verb::connect) {
        return refuse(failure::not_implemented, why, "CONNECT is not supported by an edge");
    } else {
        // absolute-form (RFC 9112 3.2.2): the target's authority wins over Host.
        auto u = boost::urls::parse_absolute_uri(target);
        if (!u) return refuse(failure::bad_request, why, "request target is neither origin-form nor a valid absolute URI");
        if (!boost::beast::iequals(u->scheme(), "http") && !boost::beast::iequals(u->scheme(), "https"))
            return refuse(failure::bad_request, why, "absolute-form target with a scheme other than http or https");
        if (u->has_userinfo()) return refuse(failure::bad_request, why, "absolute-form target with userinfo");
        t.authority = u->encoded_host_and_port();
        if (!valid_host_port(t.authority)) return refuse(failure::bad_request, why, "absolute-form target without a valid host");
        // The path and query, as a view into the target: the origin gets origin-form.
        auto const path = u->encoded_path();
        // RFC 3986 3.3: after an authority the path is empty or begins with "/". Boost.URL 1.81
        // takes "http://[::1]x" as host [::1] and path "x" (found by fuzz_request_head).
        if (!path.empty() && !path.starts_with('/'))
            return refuse(failure::bad_request, why, "absolute-form target whose path does not begin with /");
        if (path.empty()) {
            // "http://h" or "http://h?q": the origin-form is "/" (+ the query).
            t.target_buf = u->has_query() ? "/?" + std::string(u->encoded_query()) : std::string("/");
        } else {
            // The path and query: the rest of the target (a fragment is not part of a request target).
            t.target = std::string_view(path.data(), static_cast<std::size_t>(target.data() + target.size() - path.data()));
        }
        t.absolute_form = true;
    }
    if (!t.absolute_form) {
        if (host_field.empty()) {
            if (req.version() >= 11) return refuse(failure::bad_request, why, "HTTP/1.1 request without a Host");
        } else if (!valid_host_port(host_field)) {
            return refuse(failure::bad_request, why, "Host is not a valid host[:port]");
        }
    }
    t.host = lowercase_host(t.authority);
    t.valid = true;
    return t;
}

} // namespace edge522
