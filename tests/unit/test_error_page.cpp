#include "proxy/error_page.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace edge522;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

std::vector<failure> const all_failures{
    failure::invalid_response, failure::empty_response, failure::connection_reset,
    failure::response_header_too_large, failure::connect_refused, failure::connect_timeout,
    failure::request_not_acked, failure::unreachable, failure::read_timeout, failure::write_timeout,
    failure::tls_handshake_failed, failure::tls_certificate_invalid, failure::dns_failed,
    failure::no_origin_for_host, failure::access_denied, failure::not_found, failure::bad_request,
    failure::request_timeout, failure::header_too_large, failure::uri_too_long, failure::not_implemented,
};

std::vector<body_format> const all_formats{body_format::html, body_format::json, body_format::problem_json,
                                           body_format::markdown};

// 2026-04-24 09:22:40 UTC, the timestamp of Cloudflare's documented JSON example.
auto const example_time = std::chrono::system_clock::time_point{std::chrono::seconds{1777022560}};

page_context make_ctx(failure f) {
    page_context c{};  // by member: partial aggregate init trips -Wmissing-field-initializers
    c.what = f;
    c.host = "example.com";
    c.ray_id = "8f3a1b2c4d5e6f70-LOC";
    c.client_ip = "203.0.113.7";
    c.colo = "LOC";
    c.when = example_time;
    c.diagnosis = "connect 192.0.2.10:443: no SYN-ACK after 19.0 s, errno ETIMEDOUT";
    return c;
}

std::string wire(http::response<http::string_body> const& res) {
    std::ostringstream os;
    os << res;
    return os.str();
}

bool contains(std::string const& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

bool is_control_byte(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

std::size_t count(std::string const& hay, std::string_view needle) {
    std::size_t n = 0;
    for (auto pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
    return n;
}

// True when some src=/href=/action= attribute points off the page (scheme or protocol-relative).
bool has_remote_reference(std::string const& html) {
    for (std::string_view attr : {"src", "href", "action"}) {
        for (auto pos = html.find(attr); pos != std::string::npos; pos = html.find(attr, pos + 1)) {
            auto i = pos + attr.size();
            auto skip_space = [&] {
                while (i < html.size() && (html[i] == ' ' || html[i] == '\t' || html[i] == '\n')) ++i;
            };
            skip_space();
            if (i >= html.size() || html[i] != '=') continue;
            ++i;
            skip_space();
            if (i < html.size() && (html[i] == '"' || html[i] == '\'')) ++i;
            auto const value = std::string_view(html).substr(i, 8);
            if (value.rfind("//", 0) == 0 || value.rfind("http:", 0) == 0 || value.rfind("https:", 0) == 0)
                return true;
        }
    }
    return false;
}

// Splits "---\n...\n---\n" front matter into key -> raw value.
std::vector<std::pair<std::string, std::string>> front_matter(std::string const& md) {
    std::vector<std::pair<std::string, std::string>> kv;
    REQUIRE(md.rfind("---\n", 0) == 0);
    auto const end = md.find("\n---\n", 3);
    REQUIRE(end != std::string::npos);
    std::istringstream in(md.substr(4, end - 4 + 1));
    std::string line;
    while (std::getline(in, line)) {
        auto const colon = line.find(": ");
        REQUIRE(colon != std::string::npos);
        kv.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
    return kv;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// The renderer before templates (commit 075a093, plus the 414 text), frozen as the reference the
// template renderer must match byte for byte; also the "old" side of the benchmark. A page
// changed on purpose must be changed here too.
// ---------------------------------------------------------------------------------------------

namespace legacy {

using namespace edge522;

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// Valid UTF-8 with invalid sequences replaced by U+FFFD. Host, IP and diagnosis come from the
// network; Boost.JSON rejects invalid UTF-8 on parse, so one bad byte must not make the whole
// JSON answer unparsable.
std::string sanitize_utf8(std::string_view s, bool one_line) {
    std::string out;
    out.reserve(s.size());
    auto const* p = reinterpret_cast<unsigned char const*>(s.data());
    std::size_t const n = s.size();
    for (std::size_t i = 0; i < n;) {
        unsigned char const c = p[i];
        if (c < 0x80) {
            // One line for headers and Markdown: control characters (CR/LF for response
            // splitting, ESC for terminals) are dropped, tab becomes a space.
            if (one_line && (c < 0x20 || c == 0x7f)) {
                if (c == '\t') out += ' ';
            } else {
                out += char(c);
            }
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c == 0xe0) { len = 3; lo = 0xa0; }
        else if (c >= 0xe1 && c <= 0xec) len = 3;
        else if (c == 0xed) { len = 3; hi = 0x9f; }
        else if (c >= 0xee && c <= 0xef) len = 3;
        else if (c == 0xf0) { len = 4; lo = 0x90; }
        else if (c >= 0xf1 && c <= 0xf3) len = 4;
        else if (c == 0xf4) { len = 4; hi = 0x8f; }
        bool ok = len != 0 && i + len <= n;
        for (std::size_t k = 1; ok && k < len; ++k) {
            unsigned char const lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xbf;
            ok = p[i + k] >= lo_k && p[i + k] <= hi_k;
        }
        if (ok) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += "\xef\xbf\xbd";
            ++i;
        }
    }
    return out;
}

// The inputs, made safe once: everything below may assume valid UTF-8 and, for the one-line
// fields, no control characters.
struct safe_context {
    page_context const& ctx;
    failure_info const& fi;
    std::string host, ip, colo, ray, diagnosis;
    bool show_diagnosis;

    explicit safe_context(page_context const& c)
        : ctx(c), fi(info(c.what)), host(sanitize_utf8(c.host, true)),
          ip(sanitize_utf8(c.client_ip, true)), colo(sanitize_utf8(c.colo, true)),
          ray(sanitize_utf8(c.ray_id, true)), diagnosis(sanitize_utf8(c.diagnosis, true)),
          show_diagnosis(c.diagnostics && !trim_ows(diagnosis).empty()) {
        diagnosis = std::string(trim_ows(diagnosis));
    }
};

struct utc_time {
    int year;
    unsigned month, day, hour, minute, second;
};

utc_time to_utc(std::chrono::system_clock::time_point tp) {
    using namespace std::chrono;
    auto const secs = floor<seconds>(tp);
    auto const day = floor<days>(secs);
    year_month_day const ymd{day};
    hh_mm_ss const hms{secs - day};
    return {int(ymd.year()), unsigned(ymd.month()), unsigned(ymd.day()), unsigned(hms.hours().count()),
            unsigned(hms.minutes().count()), unsigned(hms.seconds().count())};
}

// "2026-04-24 09:22:40 UTC" (the page) or "2026-04-24T09:22:40Z" (JSON, ISO 8601).
std::string format_time(std::chrono::system_clock::time_point tp, bool iso) {
    auto const t = to_utc(tp);
    char buf[48];
    std::snprintf(buf, sizeof buf, iso ? "%04d-%02u-%02uT%02u:%02u:%02uZ" : "%04d-%02u-%02u %02u:%02u:%02u UTC",
                  t.year, t.month, t.day, t.hour, t.minute, t.second);
    return buf;
}

// RFC 9110 IMF-fixdate for the Date header.
std::string http_date(std::chrono::system_clock::time_point tp) {
    using namespace std::chrono;
    static constexpr std::array<char const*, 7> wd{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<char const*, 12> mon{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    auto const t = to_utc(tp);
    weekday const w{floor<days>(tp)};
    char buf[48];
    std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02u:%02u:%02u GMT", wd[w.c_encoding() % 7],
                  t.day, mon[(t.month + 11) % 12], t.year, t.hour, t.minute, t.second);
    return buf;
}

void append_html_escaped(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
}

// Per-failure prose. Templates use a tiny markup: `...` is code, {host} {ip} {colo} are the
// (network-supplied) values, always written inside backticks so Markdown never interprets them.
struct page_text {
    std::string_view happened;               // one sentence or two; also JSON "detail"
    std::string_view visitor;
    std::array<std::string_view, 3> owner;   // bullets; empty = none
};

constexpr std::string_view retry_later = "Please try again in a few minutes.";
constexpr std::string_view owner_must_fix =
    "There is nothing you can do about it: the owner of the website has to fix it. Please try again later.";
constexpr std::string_view not_origin =
    "The request never reached your origin server; nothing needs fixing there unless many visitors see this.";

constexpr std::array<std::string_view, 3> owner_520{
    "Check the origin's error logs at the time shown above: an application that crashes or a worker "
    "killed mid-request closes the connection exactly like this.",
    "Make sure the origin answers with valid HTTP and keeps its response headers small (many or large "
    "cookies are the usual cause of oversized headers).",
    "Make sure nothing between the edge and the origin (firewall, IDS, load balancer) resets established "
    "connections."};
constexpr std::array<std::string_view, 3> owner_522{
    "Allow the edge's IP addresses in the origin's firewall, `iptables`, `.htaccess` and security plugins: "
    "an edge sends a lot of traffic from few addresses, which trips automatic blocking and rate limits.",
    "Check that the origin is not overloaded or offline, and that the origin address configured at the "
    "edge is the server's real address.",
    "Keep HTTP keep-alive enabled on the origin, so that the edge can reuse its connections."};
constexpr std::array<std::string_view, 3> owner_524{
    "The origin took too long to answer: look for slow database queries or exhausted worker pools.",
    "Move long-running work (reports, exports, bulk updates) to background jobs and poll for the result, "
    "or stream the response so that the first bytes arrive early.",
    "If long requests are expected, raise the edge's `read` (and `write`) timeout for this origin."};

page_text text_for(failure f) noexcept {
    switch (f) {
    case failure::invalid_response:
        return {"The origin web server sent the edge something that is not a valid HTTP response. As a "
                "result, the web page can not be displayed.",
                retry_later, owner_520};
    case failure::empty_response:
        return {"The origin web server closed the connection without sending a response. As a result, the "
                "web page can not be displayed.",
                retry_later, owner_520};
    case failure::connection_reset:
        return {"The origin web server reset the connection before completing its response. As a result, "
                "the web page can not be displayed.",
                retry_later, owner_520};
    case failure::response_header_too_large:
        return {"The origin web server sent response headers larger than the edge accepts. As a result, the "
                "web page can not be displayed.",
                retry_later, owner_520};
    case failure::connect_refused:
        return {"The web server is not returning a connection: the origin refused the edge's connection. As "
                "a result, the web page can not be displayed.",
                retry_later,
                {"Make sure the web server is running and listening on the address and port the edge "
                 "connects to (a stopped or crashed application refuses connections like this).",
                 "Check that no firewall rule rejects the edge's IP addresses: a `REJECT` rule answers with "
                 "a reset, just like a server that is not listening.",
                 ""}};
    case failure::connect_timeout:
        return {"The initial connection between the edge and the origin web server timed out. As a result, "
                "the web page can not be displayed.",
                retry_later, owner_522};
    case failure::request_not_acked:
        return {"The edge connected to the origin web server, but the origin did not acknowledge the request "
                "in time. As a result, the web page can not be displayed.",
                retry_later, owner_522};
    case failure::unreachable:
        return {"The edge could not find a route to the origin web server. As a result, the web page can "
                "not be displayed.",
                retry_later,
                {"Check that the origin IP address configured at the edge is correct and still assigned to "
                 "your server.",
                 "Ask your hosting provider about routing between the edge and the origin; give them an MTR "
                 "or traceroute and the time of the error.",
                 ""}};
    case failure::read_timeout:
        return {"The edge connected to the origin web server, but the origin did not send an HTTP response "
                "before the connection timed out.",
                retry_later, owner_524};
    case failure::write_timeout:
        return {"The edge connected to the origin web server, but the origin did not take the request body "
                "before the connection timed out.",
                retry_later, owner_524};
    case failure::tls_handshake_failed:
        return {"The SSL/TLS handshake between the edge and the origin web server failed. As a result, the "
                "web page can not be displayed.",
                owner_must_fix,
                {"Make sure the origin has a certificate installed and speaks TLS on the port the edge "
                 "connects to.",
                 "Check that the origin supports TLS 1.2 or later with a modern cipher suite, and accepts the "
                 "SNI name the edge sends.",
                 ""}};
    case failure::tls_certificate_invalid:
        return {"The edge could not validate the SSL/TLS certificate presented by the origin web server. As a "
                "result, the web page can not be displayed.",
                owner_must_fix,
                {"Install a certificate on the origin that is unexpired, issued by a trusted authority and "
                 "valid for `{host}`.",
                 "Send the full certificate chain, intermediates included.",
                 "Relax the edge's `tls_verify` only if you understand what strict verification protects."}};
    case failure::dns_failed:
        return {"The edge could not resolve the host name of the origin web server configured for `{host}`. "
                "As a result, the web page can not be displayed.",
                owner_must_fix,
                {"Check the DNS record of the origin name: it must exist and resolve to your server (an A, "
                 "AAAA or CNAME record).",
                 "If the origin name is a CNAME to another provider, make sure its target still resolves.",
                 ""}};
    case failure::no_origin_for_host:
        return {"No origin is configured at this edge for `{host}`, so the request has nowhere to go.",
                "Check that the address is spelled correctly. If it is, the website may not be set up yet.",
                {"Add an `[[origins]]` entry whose `hosts` pattern matches `{host}` to the edge's "
                 "configuration, or point the DNS record of `{host}` elsewhere.",
                 "", ""}};
    case failure::access_denied:
        return {"The owner of this website (`{host}`) has banned your IP address (`{ip}`).",
                "If you think this is a mistake, contact the owner of the website and give them the Ray ID "
                "shown below.",
                {"Review the edge's `[access]` rules: an address or range that includes `{ip}` is blocked.", "",
                 ""}};
    case failure::not_found:
        return {"The edge has nothing at this address.",
                "Check the address for typing errors.",
                {"`/cdn-cgi/error/CODE` only serves the codes the edge itself generates: 520 to 526, 530 and "
                 "403.",
                 "", ""}};
    case failure::bad_request:
        return {"The edge could not understand the request: it was malformed.",
                "Check the address and try again. If you are sending requests from a program, make sure they "
                "are valid HTTP/1.1.",
                {not_origin, "", ""}};
    case failure::request_timeout:
        return {"The edge did not receive the complete request in time, so it closed the connection.",
                "Check your network connection and try again.",
                {not_origin, "", ""}};
    case failure::header_too_large:
        return {"The request headers were larger than the edge accepts.",
                "Clear the cookies for this website and try again: many or large cookies are the usual cause.",
                {not_origin, "If your website sets many or large cookies, make them fewer or smaller.", ""}};
    case failure::uri_too_long:
        return {"The address (URL) of the request was longer than the edge accepts.",
                "Check the address: a link that keeps growing (for example a redirect loop that appends to "
                "the query string) is the usual cause.",
                {not_origin, "If your website builds long URLs, send the data in a request body instead.", ""}};
    case failure::not_implemented:
        return {"The request used a transfer coding the edge does not support.",
                "Send the request body with `Content-Length`, or with `Transfer-Encoding: chunked`.",
                {not_origin, "", ""}};
    }
    return {"", "", {"", "", ""}};
}

enum class text_mode { html, markdown, plain };

// Expands one template: static text is escaped for the target, values are escaped or cleaned.
std::string expand(std::string_view tpl, safe_context const& s, text_mode mode) {
    std::string out;
    bool in_code = false;
    for (std::size_t i = 0; i < tpl.size(); ++i) {
        char const c = tpl[i];
        if (c == '`') {
            if (mode == text_mode::html) out += in_code ? "</code>" : "<code>";
            else if (mode == text_mode::markdown) out += c;
            in_code = !in_code;
            continue;
        }
        if (c == '{') {
            auto const close = tpl.find('}', i);
            if (close != std::string_view::npos) {
                auto const key = tpl.substr(i + 1, close - i - 1);
                std::string const* value = key == "host" ? &s.host : key == "ip" ? &s.ip : key == "colo" ? &s.colo : nullptr;
                if (value) {
                    if (mode == text_mode::html) {
                        append_html_escaped(out, *value);
                    } else if (mode == text_mode::markdown) {
                        // Inside a code span: a backtick would end it early.
                        for (char v : *value) out += v == '`' ? '\'' : v;
                    } else {
                        out += *value;
                    }
                    i = close;
                    continue;
                }
            }
        }
        if (mode == text_mode::html) append_html_escaped(out, std::string_view(&tpl[i], 1));
        else out += c;
    }
    if (in_code && mode == text_mode::html) out += "</code>";
    return out;
}

bool is_1xxx(failure_info const& fi) noexcept { return fi.error_code >= 1000; }

std::string decimal(unsigned v) { return std::to_string(v); }

// "Error 522: Connection timed out", "Error 1016: Origin DNS error".
std::string problem_title(failure_info const& fi) {
    return "Error " + decimal(fi.error_code) + ": " + std::string(fi.title);
}

std::string docs_url(failure_info const& fi) {
    std::string const code = decimal(fi.error_code);
    if (is_1xxx(fi))
        return "https://developers.cloudflare.com/support/troubleshooting/http-status-codes/"
               "cloudflare-1xxx-errors/error-" + code + "/";
    if (fi.status >= 520 && fi.status <= 530)
        return "https://developers.cloudflare.com/support/troubleshooting/http-status-codes/"
               "cloudflare-5xx-errors/error-" + code + "/";
    return "https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/" + decimal(fi.status);
}

std::string markdown_advice(safe_context const& s) {
    auto const t = text_for(s.ctx.what);
    std::string md = "**If you're a visitor of this website:**\n\n";
    md += expand(t.visitor, s, text_mode::markdown);
    md += "\n\n**If you're the owner of this website:**\n";
    for (auto b : t.owner)
        if (!b.empty()) md += "\n- " + expand(b, s, text_mode::markdown);
    return md;
}

std::string footer_line(safe_context const& s) {
    return "Ray ID: " + s.ray + " \xe2\x80\xa2 Performance & security by edge522";
}

// Shared by JSON and the Markdown front matter, in the documented order.
json::object problem_object(safe_context const& s, bool standard_members) {
    auto const& fi = s.fi;
    auto const t = text_for(s.ctx.what);
    json::object o;
    if (standard_members) {
        o["type"] = docs_url(fi);
        o["title"] = problem_title(fi);
    }
    o["status"] = fi.status;
    o["detail"] = expand(t.happened, s, text_mode::plain);
    if (standard_members) o["instance"] = s.ray;
    o["error_code"] = fi.error_code;
    o["error_name"] = fi.error_name;
    o["error_category"] = fi.category;
    o["ray_id"] = s.ray;
    o["timestamp"] = format_time(s.ctx.when, true);
    o["zone"] = s.host;
    o["cloudflare_error"] = true;
    o["retryable"] = fi.retryable;
    if (fi.retry_after) o["retry_after"] = *fi.retry_after;
    else o["retry_after"] = nullptr;
    o["owner_action_required"] = fi.owner_action_required;
    o["what_you_should_do"] = markdown_advice(s);
    if (standard_members) o["footer"] = footer_line(s);
    if (s.show_diagnosis) o["diagnosis"] = s.diagnosis;
    return o;
}

std::string render_json(safe_context const& s) { return json::serialize(problem_object(s, true)) + "\n"; }

// A fence longer than any backtick run in `text`, so the text cannot close it.
std::string fence_for(std::string_view text) {
    std::size_t longest = 0, run = 0;
    for (char c : text) {
        run = c == '`' ? run + 1 : 0;
        longest = std::max(longest, run);
    }
    return std::string(std::max<std::size_t>(3, longest + 1), '`');
}

std::string render_markdown(safe_context const& s) {
    auto const t = text_for(s.ctx.what);
    std::string md = "---\n";
    // JSON scalars are valid YAML 1.2 flow scalars: quoting through the JSON serializer makes any
    // host or diagnosis safe in the front matter without a YAML library.
    for (auto const& kv : problem_object(s, false))
        md += std::string(kv.key()) + ": " + json::serialize(kv.value()) + "\n";
    md += "---\n\n# " + problem_title(s.fi) + "\n\n## What Happened\n\n";
    md += expand(t.happened, s, text_mode::markdown);
    md += "\n\n## What You Should Do\n\n" + markdown_advice(s) + "\n";
    if (s.show_diagnosis) {
        auto const fence = fence_for(s.diagnosis);
        md += "\n## What The Edge Saw\n\n" + fence + "\n" + s.diagnosis + "\n" + fence + "\n";
    }
    return md;
}

// Inline icons (24x24 line art): nothing on the page may be fetched from anywhere, since the
// edge may be the only thing the visitor can reach.
constexpr std::string_view svg_open =
    "<svg class=\"cf-i\" viewBox=\"0 0 24 24\" fill=\"none\" stroke=\"#999\" stroke-width=\"1.1\" "
    "stroke-linecap=\"round\" stroke-linejoin=\"round\" aria-hidden=\"true\">";
constexpr std::string_view icon_browser =
    "<rect x=\"2\" y=\"4\" width=\"20\" height=\"16\" rx=\"1.5\"/><path d=\"M2 8h20\"/>"
    "<circle cx=\"4.5\" cy=\"6\" r=\".5\"/><circle cx=\"6.5\" cy=\"6\" r=\".5\"/><circle cx=\"8.5\" cy=\"6\" r=\".5\"/>";
constexpr std::string_view icon_cloud = "<path d=\"M18 10h-1.26A8 8 0 1 0 9 20h9a5 5 0 0 0 0-10z\"/>";
constexpr std::string_view icon_server =
    "<rect x=\"3\" y=\"3\" width=\"18\" height=\"8\" rx=\"1.5\"/><rect x=\"3\" y=\"13\" width=\"18\" height=\"8\" "
    "rx=\"1.5\"/><path d=\"M7 7h.01M7 17h.01M11 7h6M11 17h6\"/>";
constexpr std::string_view badge_ok =
    "<svg class=\"cf-b\" viewBox=\"0 0 24 24\" aria-hidden=\"true\"><circle cx=\"12\" cy=\"12\" r=\"11\" "
    "fill=\"#2e9d4c\" stroke=\"#fff\" stroke-width=\"2\"/><path d=\"M7 12.5l3.2 3.2L17 9\" fill=\"none\" "
    "stroke=\"#fff\" stroke-width=\"2.4\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/></svg>";
constexpr std::string_view badge_error =
    "<svg class=\"cf-b\" viewBox=\"0 0 24 24\" aria-hidden=\"true\"><circle cx=\"12\" cy=\"12\" r=\"11\" "
    "fill=\"#bd2426\" stroke=\"#fff\" stroke-width=\"2\"/><path d=\"M8 8l8 8M16 8l-8 8\" fill=\"none\" "
    "stroke=\"#fff\" stroke-width=\"2.4\" stroke-linecap=\"round\"/></svg>";

constexpr std::string_view page_css =
    "*{box-sizing:border-box;margin:0;padding:0}"
    "body{font:15px/1.5 -apple-system,BlinkMacSystemFont,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;"
    "color:#404040;background:#fff}"
    // Longhand paddings: .cf-w shares elements with rules that set vertical padding.
    ".cf-w{max-width:960px;margin:0 auto;padding-left:20px;padding-right:20px}"
    "header{padding-top:56px;padding-bottom:28px}"
    "h1{font-size:60px;font-weight:300;line-height:1.15;color:#313131}"
    "h1 .cf-t{margin-right:14px}"
    ".code-label{font-size:24px;color:#999;white-space:nowrap}"
    ".cf-time{color:#999;margin-top:10px}"
    ".cf-band{background:linear-gradient(#fff,#ececec 50%,#e0e0e0);border-bottom:1px solid #d9d9d9}"
    ".cf-boxes{display:flex}"
    ".cf-box{flex:1;text-align:center;padding:28px 10px 34px;position:relative}"
    ".cf-ic{position:relative;width:110px;height:90px;margin:0 auto 6px}"
    ".cf-i{width:110px;height:90px}"
    ".cf-b{position:absolute;left:50%;bottom:0;width:34px;height:34px;margin-left:-17px}"
    ".cf-l{display:block;color:#404040;overflow-wrap:anywhere}"
    "h3{font-size:36px;font-weight:300;line-height:1.2;color:#b3b3b3}"
    ".cf-s{font-size:24px}.cf-ok{color:#2e9d4c}.cf-err{color:#bd2426}"
    ".cf-error-source:after{content:\"\";position:absolute;bottom:-1px;left:50%;margin-left:-18px;"
    "border:18px solid transparent;border-bottom-color:#fff;border-top:0}"
    ".cf-cols{display:flex;gap:40px;padding-top:36px;padding-bottom:8px}.cf-cols section{flex:1}"
    "h2{font-size:30px;font-weight:400;line-height:1.3;color:#313131;margin-bottom:12px}"
    "h4{font-size:15px;margin:14px 0 4px}"
    "p,li{margin-bottom:8px}ul{padding-left:20px}"
    "code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f2f2f2;padding:1px 4px;"
    "border-radius:3px;overflow-wrap:anywhere}"
    ".cf-diag{padding-top:20px}.cf-diag h2{font-size:24px}.cf-diag pre{font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    "background:#f6f6f6;border-left:4px solid #bd2426;padding:12px 16px;white-space:pre-wrap;overflow-wrap:anywhere}"
    "footer{border-top:1px solid #d9d9d9;margin:28px 0 40px;padding-top:12px;font-size:13px;text-align:center}"
    "footer .sep{margin:0 6px}.cf-fi{white-space:nowrap}"
    "#cf-footer-ip-reveal{font:inherit;color:#0051c3;background:none;border:0;cursor:pointer;"
    "text-decoration:underline}"
    "@media (max-width:720px){header{padding-top:32px}h1{font-size:36px}"
    ".cf-boxes,.cf-cols{display:block}.cf-cols section{margin-bottom:20px}"
    ".cf-box{text-align:left;padding:14px 0 14px 84px;min-height:110px;border-bottom:1px solid #d9d9d9}"
    ".cf-ic{position:absolute;left:0;top:18px;width:64px;height:52px;margin:0}.cf-i{width:64px;height:52px}"
    ".cf-b{width:24px;height:24px;margin-left:-12px}h3{font-size:26px}.cf-s{font-size:18px}"
    ".cf-error-source:after{display:none}footer .sep{display:none}.cf-fi{display:block}}";

void append_box(std::string& out, std::string_view id, std::string_view icon, std::string_view label,
                std::string_view h3, bool failing) {
    out += "<div id=\"";
    out += id;
    out += failing ? "\" class=\"cf-box cf-error-source\">" : "\" class=\"cf-box\">";
    out += "<div class=\"cf-ic\">";
    out += svg_open;
    out += icon;
    out += "</svg>";
    out += failing ? badge_error : badge_ok;
    out += "</div><span class=\"cf-l\">";
    append_html_escaped(out, label);
    out += "</span><h3>";
    out += h3;
    out += failing ? "</h3><span class=\"cf-s cf-err\">Error</span></div>"
                   : "</h3><span class=\"cf-s cf-ok\">Working</span></div>";
}

std::string render_html(safe_context const& s) {
    auto const& fi = s.fi;
    auto const t = text_for(s.ctx.what);
    std::string const code = decimal(fi.error_code);
    std::string out;
    out.reserve(9000);

    out += "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<meta charset=\"UTF-8\">\n"
           "<meta http-equiv=\"X-UA-Compatible\" content=\"IE=Edge\">\n"
           "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
           "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>";
    if (s.ctx.what == failure::access_denied) {
        // Cloudflare's block page has its own title form.
        out += "Access denied | ";
        append_html_escaped(out, s.host.empty() ? std::string_view("this website") : s.host);
        out += " used edge522 to restrict access";
    } else {
        if (!s.host.empty()) {
            append_html_escaped(out, s.host);
            out += " | ";
        }
        out += decimal(fi.status) + ": ";
        append_html_escaped(out, fi.title);
    }
    out += "</title>\n<style>";
    out += page_css;
    out += "</style>\n</head>\n<body>\n<div id=\"cf-wrapper\"><div id=\"cf-error-details\">\n"
           "<header class=\"cf-w\"><h1><span class=\"cf-t\">";
    append_html_escaped(out, fi.title);
    // 1xxx errors are known by their own number (the status is in the title): "Error 1016".
    out += "</span><span class=\"code-label\">";
    out += is_1xxx(fi) ? "Error " + code : "Error code " + code;
    out += "</span></h1>\n<div class=\"cf-time\">";
    out += format_time(s.ctx.when, false);
    out += "</div></header>\n";

    out += "<div class=\"cf-band\"><div class=\"cf-w cf-boxes\">\n";
    append_box(out, "cf-browser-status", icon_browser, "You", "Browser", fi.box == failing_box::browser);
    append_box(out, "cf-cloudflare-status", icon_cloud, s.colo.empty() ? std::string_view("Edge") : s.colo,
               "Edge", fi.box == failing_box::edge);
    append_box(out, "cf-host-status", icon_server, s.host.empty() ? std::string_view("Host") : s.host, "Host",
               fi.box == failing_box::host);
    out += "</div></div>\n";

    out += "<div class=\"cf-w cf-cols\">\n<section><h2>What happened?</h2><p>";
    out += expand(t.happened, s, text_mode::html);
    out += "</p></section>\n<section><h2>What can I do?</h2>"
           "<h4>If you're a visitor of this website:</h4><p>";
    out += expand(t.visitor, s, text_mode::html);
    out += "</p><h4>If you're the owner of this website:</h4><ul>";
    for (auto b : t.owner)
        if (!b.empty()) out += "<li>" + expand(b, s, text_mode::html) + "</li>";
    out += "</ul></section>\n</div>\n";

    if (s.show_diagnosis) {
        out += "<div class=\"cf-w\"><section class=\"cf-diag\"><h2>What the edge saw</h2><pre>";
        append_html_escaped(out, s.diagnosis);
        out += "</pre></section></div>\n";
    }

    out += "<div class=\"cf-w\"><footer class=\"cf-error-footer\"><span class=\"cf-fi\">Ray ID: <strong>";
    append_html_escaped(out, s.ray);
    out += "</strong></span><span class=\"sep\">&bull;</span><span class=\"cf-fi\">Your IP: "
           "<button type=\"button\" id=\"cf-footer-ip-reveal\">Click to reveal</button>"
           "<span id=\"cf-footer-ip\" hidden>";
    append_html_escaped(out, s.ip);
    out += "</span></span><span class=\"sep\">&bull;</span>"
           "<span class=\"cf-fi\">Performance &amp; security by edge522</span></footer></div>\n"
           "</div></div>\n"
           // Hidden by default (as Cloudflare does) so a screenshot of the page does not leak the IP.
           "<noscript><style>#cf-footer-ip{display:inline!important}#cf-footer-ip-reveal{display:none}"
           "</style></noscript>\n"
           "<script>(function(){var b=document.getElementById('cf-footer-ip-reveal'),"
           "i=document.getElementById('cf-footer-ip');if(b&&i)b.addEventListener('click',function(){"
           "b.hidden=true;i.hidden=false;});})();</script>\n</body>\n</html>\n";
    return out;
}



rendered_body render_body(page_context const& ctx, body_format fmt) {
    safe_context const s{ctx};
    switch (fmt) {
    case body_format::json: return {"application/json; charset=utf-8", render_json(s)};
    case body_format::problem_json: return {"application/problem+json; charset=utf-8", render_json(s)};
    case body_format::markdown: return {"text/markdown; charset=utf-8", render_markdown(s)};
    case body_format::html: break;
    }
    return {"text/html; charset=UTF-8", render_html(s)};
}

http::response<http::string_body>
make_error_response(page_context const& ctx, body_format fmt, unsigned http_version, bool keep_alive) {
    auto const& fi = info(ctx.what);
    auto rendered = legacy::render_body(ctx, fmt);

    http::response<http::string_body> res;
    res.version(http_version);
    // Beast has no phrase for 52x; reason() must come after result() so ours is the one sent.
    res.result(fi.status);
    res.reason(fi.reason);
    res.keep_alive(keep_alive);
    res.set(http::field::date, http_date(ctx.when));
    res.set(http::field::content_type, rendered.content_type);
    res.set(http::field::cache_control,
            "private, max-age=0, no-store, no-cache, must-revalidate, post-check=0, pre-check=0");
    res.set(http::field::expires, "Thu, 01 Jan 1970 00:00:01 GMT");
    res.set(http::field::x_frame_options, "SAMEORIGIN");
    res.set("Referrer-Policy", "same-origin");  // not in Beast's field table
    if (fi.retry_after) res.set(http::field::retry_after, decimal(*fi.retry_after));
    // Header values must never carry CR/LF: the diagnosis can quote origin-supplied text.
    res.set(http::field::server, sanitize_utf8(ctx.server_header, true));
    res.set("CF-Ray", sanitize_utf8(ctx.ray_id, true));
    if (ctx.diagnostics) {
        auto const diag = sanitize_utf8(ctx.diagnosis, true);
        auto const trimmed = trim_ows(diag);
        if (!trimmed.empty()) res.set("Edge522-Diagnosis", trimmed);
    }
    res.body() = std::move(rendered.body);
    res.prepare_payload();
    return res;
}


} // namespace legacy

// ---------------------------------------------------------------------------------------------
// negotiate
// ---------------------------------------------------------------------------------------------

TEST_CASE("negotiate: single types and the documented mapping", "[error_page][negotiate]") {
    CHECK(negotiate("") == body_format::html);
    CHECK(negotiate("*/*") == body_format::html);
    CHECK(negotiate("text/html") == body_format::html);
    CHECK(negotiate("application/json") == body_format::json);
    CHECK(negotiate("application/problem+json") == body_format::problem_json);
    CHECK(negotiate("text/markdown") == body_format::markdown);
    CHECK(negotiate("text/plain") == body_format::markdown);
    CHECK(negotiate("text/*") == body_format::markdown);
    CHECK(negotiate("application/*") == body_format::json);
    CHECK(negotiate("image/png") == body_format::html);  // nothing we make: the page anyway
    CHECK(negotiate("Application/JSON") == body_format::json);
    CHECK(negotiate("  application/json  ") == body_format::json);
}

TEST_CASE("negotiate: real clients", "[error_page][negotiate]") {
    CHECK(negotiate("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8") ==
          body_format::html);
    CHECK(negotiate("application/json, text/plain, */*") == body_format::json);  // axios
    CHECK(negotiate("application/problem+json, application/json;q=0.9") == body_format::problem_json);
    CHECK(negotiate("text/markdown, text/html;q=0.9") == body_format::markdown);
}

TEST_CASE("negotiate: q-values", "[error_page][negotiate]") {
    CHECK(negotiate("application/json;q=0.5, text/html;q=0.9") == body_format::html);
    CHECK(negotiate("text/html;q=0.5, application/json") == body_format::json);
    CHECK(negotiate("text/html; q=0.1, text/markdown; q=0.2") == body_format::markdown);
    CHECK(negotiate("*/*;q=0.1, application/problem+json") == body_format::problem_json);
    CHECK(negotiate("APPLICATION/JSON; Q=0.5, text/html; q=0.4") == body_format::json);
    CHECK(negotiate("text/html;q=0.999, application/json;q=1.0") == body_format::json);
    CHECK(negotiate("text/html;q=1.000, application/json;q=0.999") == body_format::html);
}

TEST_CASE("negotiate: at equal q the first listed wins", "[error_page][negotiate]") {
    CHECK(negotiate("application/json, text/html") == body_format::json);
    CHECK(negotiate("text/html, application/json") == body_format::html);
    CHECK(negotiate("text/markdown;q=0.8, application/json;q=0.8") == body_format::markdown);
    CHECK(negotiate("application/json;q=0.8, text/markdown;q=0.8") == body_format::json);
    CHECK(negotiate("application/problem+json, application/json") == body_format::problem_json);
}

TEST_CASE("negotiate: q=0 means not acceptable", "[error_page][negotiate]") {
    CHECK(negotiate("application/json;q=0") == body_format::html);
    CHECK(negotiate("application/json;q=0.000") == body_format::html);
    CHECK(negotiate("text/html;q=0, application/json;q=0.1") == body_format::json);
    // The more specific range decides: JSON refused even though */* would allow it.
    CHECK(negotiate("application/json;q=0, */*") == body_format::html);
    CHECK(negotiate("text/markdown;q=0, text/*") == body_format::html);
    // HTML refused explicitly, anything else welcome: not HTML.
    CHECK(negotiate("text/html;q=0, */*") == body_format::json);
    // Everything refused: the page anyway (an error answer must not fail again with 406).
    CHECK(negotiate("*/*;q=0") == body_format::html);
}

TEST_CASE("negotiate: junk never throws and falls back sanely", "[error_page][negotiate]") {
    CHECK(negotiate(",,,") == body_format::html);
    CHECK(negotiate(";;;") == body_format::html);
    CHECK(negotiate("garbage") == body_format::html);
    CHECK(negotiate("/") == body_format::html);
    CHECK(negotiate("text/") == body_format::html);
    CHECK(negotiate("/json") == body_format::html);
    CHECK(negotiate("*/json") == body_format::html);
    CHECK(negotiate("\"") == body_format::html);
    CHECK(negotiate("application/json;q=") == body_format::html);
    CHECK(negotiate("application/json;q=abc, text/markdown") == body_format::markdown);
    CHECK(negotiate("application/json;q=2") == body_format::html);
    CHECK(negotiate("application/json;q=1.5") == body_format::json);  // clamped to 1
    CHECK(negotiate("application/json;q") == body_format::json);      // not a weight: ignored
    CHECK(negotiate(",application/json,") == body_format::json);
    // A quoted parameter value may hold the separators.
    CHECK(negotiate("application/json;foo=\"a,b;c\";q=0.9, text/markdown;q=0.8") == body_format::json);
    CHECK(negotiate("application/json;foo=\"unterminated, text/markdown") == body_format::json);
    CHECK(negotiate("text/html;x=\"\\") == body_format::html);
    CHECK(negotiate(std::string_view("application/json\0junk", 21)) == body_format::html);
    CHECK(negotiate("\xff\xfe\x80/\xc3") == body_format::html);
    std::string long_accept;
    for (int i = 0; i < 2000; ++i) long_accept += "x/y;q=0.5, ";
    long_accept += "application/json;q=0.6";
    CHECK(negotiate(long_accept) == body_format::json);

    std::mt19937 rng(522);
    std::string const alphabet = "ab/*;,=q.01 \t\"\\\x00\xff";
    for (int i = 0; i < 5000; ++i) {
        std::string s(rng() % 40, ' ');
        for (auto& c : s) c = alphabet[rng() % alphabet.size()];
        CHECK_NOTHROW(negotiate(s));
    }
}

// ---------------------------------------------------------------------------------------------
// render_body / make_error_response
// ---------------------------------------------------------------------------------------------

TEST_CASE("every failure renders in every format", "[error_page]") {
    for (auto f : all_failures) {
        for (auto fmt : all_formats) {
            INFO(name(f) << " format " << int(fmt));
            auto const ctx = make_ctx(f);
            auto const body = render_body(ctx, fmt);
            CHECK_FALSE(body.body.empty());
            switch (fmt) {
            case body_format::html: CHECK(body.content_type == "text/html; charset=UTF-8"); break;
            case body_format::json: CHECK(body.content_type == "application/json; charset=utf-8"); break;
            case body_format::problem_json:
                CHECK(body.content_type == "application/problem+json; charset=utf-8");
                break;
            case body_format::markdown: CHECK(body.content_type == "text/markdown; charset=utf-8"); break;
            }
            auto const res = make_error_response(ctx, fmt, 11, true);
            CHECK(res.result_int() == info(f).status);
            CHECK(res.reason() == info(f).reason);
            CHECK(res.body() == body.body);
            CHECK(res[http::field::content_length] == std::to_string(body.body.size()));
        }
    }
}

TEST_CASE("522 on the wire: exact status line and the Cloudflare header set", "[error_page]") {
    auto const ctx = make_ctx(failure::connect_timeout);
    auto const res = make_error_response(ctx, body_format::html, 11, true);
    auto const w = wire(res);
    CHECK(w.rfind("HTTP/1.1 522 Connection Timed Out\r\n", 0) == 0);
    CHECK(contains(w, "\r\nContent-Type: text/html; charset=UTF-8\r\n"));
    CHECK(contains(w, "\r\nCache-Control: private, max-age=0, no-store, no-cache, must-revalidate, post-check=0, "
                      "pre-check=0\r\n"));
    CHECK(contains(w, "\r\nExpires: Thu, 01 Jan 1970 00:00:01 GMT\r\n"));
    CHECK(contains(w, "\r\nX-Frame-Options: SAMEORIGIN\r\n"));
    CHECK(contains(w, "\r\nReferrer-Policy: same-origin\r\n"));
    CHECK(contains(w, "\r\nRetry-After: 120\r\n"));
    CHECK(contains(w, "\r\nServer: cloudflare\r\n"));
    CHECK(contains(w, "\r\nCF-Ray: 8f3a1b2c4d5e6f70-LOC\r\n"));
    CHECK(contains(w, "\r\nDate: Fri, 24 Apr 2026 09:22:40 GMT\r\n"));
    CHECK(contains(w, "\r\nEdge522-Diagnosis: connect 192.0.2.10:443: no SYN-ACK after 19.0 s, errno ETIMEDOUT\r\n"));
    CHECK(contains(w, "\r\nContent-Length: " + std::to_string(res.body().size()) + "\r\n"));
    CHECK(res.keep_alive());
}

TEST_CASE("status lines of every code keep the table's reason phrase", "[error_page]") {
    for (auto f : all_failures) {
        INFO(name(f));
        auto const& i = info(f);
        auto const w = wire(make_error_response(make_ctx(f), body_format::json, 11, true));
        CHECK(w.rfind("HTTP/1.1 " + std::to_string(i.status) + " " + std::string(i.reason) + "\r\n", 0) == 0);
        CHECK(contains(w, "\r\nRetry-After: ") == i.retry_after.has_value());
        if (i.retry_after) CHECK(contains(w, "\r\nRetry-After: " + std::to_string(*i.retry_after) + "\r\n"));
    }
}

TEST_CASE("version, keep-alive and the custom Server header", "[error_page]") {
    auto ctx = make_ctx(failure::connect_refused);
    ctx.server_header = "edge522-test";
    auto const close11 = make_error_response(ctx, body_format::html, 11, false);
    CHECK(wire(close11).rfind("HTTP/1.1 521 Web Server Is Down\r\n", 0) == 0);
    CHECK_FALSE(close11.keep_alive());
    CHECK(close11[http::field::connection] == "close");
    CHECK(close11[http::field::server] == "edge522-test");
    auto const keep10 = make_error_response(ctx, body_format::html, 10, true);
    CHECK(wire(keep10).rfind("HTTP/1.0 521 Web Server Is Down\r\n", 0) == 0);
    CHECK(keep10.keep_alive());
}

TEST_CASE("Edge522-Diagnosis: control characters stripped, absent when off or empty", "[error_page]") {
    auto ctx = make_ctx(failure::read_timeout);
    ctx.diagnosis = "origin said\r\nX-Injected: 1\x1b[31m\x7f done";
    auto const res = make_error_response(ctx, body_format::json, 11, true);
    auto const w = wire(res);
    CHECK_FALSE(contains(w, "\r\nX-Injected"));
    CHECK(res["Edge522-Diagnosis"] == "origin saidX-Injected: 1[31m done");
    auto const jv = json::parse(res.body());
    CHECK(jv.at("diagnosis").as_string() == "origin saidX-Injected: 1[31m done");

    ctx.diagnostics = false;
    auto const off = make_error_response(ctx, body_format::json, 11, true);
    CHECK(off.find("Edge522-Diagnosis") == off.end());
    CHECK_FALSE(json::parse(off.body()).as_object().contains("diagnosis"));
    CHECK_FALSE(contains(render_body(ctx, body_format::html).body, "What the edge saw"));
    CHECK_FALSE(contains(render_body(ctx, body_format::markdown).body, "What The Edge Saw"));

    ctx.diagnostics = true;
    ctx.diagnosis = " \r\n ";
    auto const blank = make_error_response(ctx, body_format::html, 11, true);
    CHECK(blank.find("Edge522-Diagnosis") == blank.end());
    CHECK_FALSE(contains(blank.body(), "What the edge saw"));
}

TEST_CASE("JSON: RFC 9457 members and Cloudflare's extensions with the right types", "[error_page][json]") {
    for (auto f : all_failures) {
        for (auto fmt : {body_format::json, body_format::problem_json}) {
            INFO(name(f));
            auto const& i = info(f);
            auto const ctx = make_ctx(f);
            json::value const jv = json::parse(render_body(ctx, fmt).body);
            auto const& o = jv.as_object();
            REQUIRE(o.at("type").is_string());
            CHECK(std::string_view(o.at("type").as_string()).rfind("https://", 0) == 0);
            CHECK(o.at("title").as_string() ==
                  "Error " + std::to_string(i.error_code) + ": " + std::string(i.title));
            CHECK(o.at("status").as_int64() == i.status);
            REQUIRE(o.at("detail").is_string());
            CHECK_FALSE(o.at("detail").as_string().empty());
            CHECK(o.at("instance").as_string() == "8f3a1b2c4d5e6f70-LOC");
            CHECK(o.at("error_code").as_int64() == i.error_code);
            CHECK(o.at("error_name").as_string() == i.error_name);
            CHECK(o.at("error_category").as_string() == i.category);
            CHECK(o.at("ray_id").as_string() == "8f3a1b2c4d5e6f70-LOC");
            CHECK(o.at("timestamp").as_string() == "2026-04-24T09:22:40Z");
            CHECK(o.at("zone").as_string() == "example.com");
            CHECK(o.at("cloudflare_error").as_bool() == true);
            CHECK(o.at("retryable").as_bool() == i.retryable);
            if (i.retry_after) CHECK(o.at("retry_after").as_int64() == *i.retry_after);
            else CHECK(o.at("retry_after").is_null());
            CHECK(o.at("owner_action_required").as_bool() == i.owner_action_required);
            REQUIRE(o.at("what_you_should_do").is_string());
            CHECK(contains(std::string(o.at("what_you_should_do").as_string()), "owner of this website"));
            REQUIRE(o.at("footer").is_string());
            CHECK(o.at("diagnosis").as_string() == ctx.diagnosis);
        }
    }
    auto const jv = json::parse(render_body(make_ctx(failure::connect_timeout), body_format::json).body);
    CHECK(jv.at("type").as_string() ==
          "https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/"
          "error-522/");
    CHECK(jv.at("title").as_string() == "Error 522: Connection timed out");
    CHECK(jv.at("error_name").as_string() == "connection_timeout");
    auto const dns = json::parse(render_body(make_ctx(failure::dns_failed), body_format::json).body);
    CHECK(dns.at("status").as_int64() == 530);
    CHECK(dns.at("error_code").as_int64() == 1016);
    CHECK(contains(std::string(dns.at("type").as_string()), "cloudflare-1xxx-errors/error-1016/"));
}

TEST_CASE("JSON survives hostile and invalid UTF-8 input", "[error_page][json]") {
    auto ctx = make_ctx(failure::access_denied);
    ctx.host = "\"}<script>\xff\xfe.example";
    ctx.client_ip = "1.2.3.4\"\n";
    ctx.diagnosis = "\xc3\x28 bad \xe2\x82";
    json::value jv;
    REQUIRE_NOTHROW(jv = json::parse(render_body(ctx, body_format::json).body));
    CHECK(jv.at("zone").as_string() == "\"}<script>\xef\xbf\xbd\xef\xbf\xbd.example");
    CHECK(contains(std::string(jv.at("detail").as_string()), "1.2.3.4\""));
}

TEST_CASE("HTML: title, heading, timestamp, footer", "[error_page][html]") {
    auto const html = render_body(make_ctx(failure::connect_timeout), body_format::html).body;
    CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(contains(html, "<title>example.com | 522: Connection timed out</title>"));
    CHECK(contains(html, "Connection timed out</span>"));
    CHECK(contains(html, "Error code 522"));
    CHECK(contains(html, "2026-04-24 09:22:40 UTC"));
    CHECK(contains(html, "What happened?"));
    CHECK(contains(html, "What can I do?"));
    CHECK(contains(html, "If you're a visitor of this website:"));
    CHECK(contains(html, "If you're the owner of this website:"));
    CHECK(contains(html, "firewall"));
    CHECK(contains(html, "keep-alive"));
    CHECK(contains(html, "Ray ID: <strong>8f3a1b2c4d5e6f70-LOC</strong>"));
    CHECK(contains(html, "id=\"cf-footer-ip-reveal\""));
    CHECK(contains(html, "<span id=\"cf-footer-ip\" hidden>203.0.113.7</span>"));
    CHECK(contains(html, "Performance &amp; security by edge522"));
    CHECK(contains(html, "What the edge saw"));
    CHECK(contains(html, "no SYN-ACK after 19.0 s"));
    // About Cloudflare's 7 KB.
    CHECK(html.size() > 4000);
    CHECK(html.size() < 10000);
}

TEST_CASE("HTML: titles and code labels of 1xxx and client errors", "[error_page][html]") {
    auto const dns = render_body(make_ctx(failure::dns_failed), body_format::html).body;
    CHECK(contains(dns, "<title>example.com | 530: Origin DNS error</title>"));
    CHECK(contains(dns, "Error 1016"));
    auto const denied = render_body(make_ctx(failure::access_denied), body_format::html).body;
    CHECK(contains(denied, "<title>Access denied | example.com used edge522 to restrict access</title>"));
    CHECK(contains(denied, "Error 1006"));
    CHECK(contains(denied, "has banned your IP address (<code>203.0.113.7</code>)"));
    auto const bad = render_body(make_ctx(failure::bad_request), body_format::html).body;
    CHECK(contains(bad, "<title>example.com | 400: Bad request</title>"));
    CHECK(contains(bad, "Error code 400"));
    auto const none = render_body(make_ctx(failure::no_origin_for_host), body_format::html).body;
    CHECK(contains(none, "Error 1001"));
}

TEST_CASE("HTML: three boxes, exactly one failing, the right one", "[error_page][html]") {
    for (auto f : all_failures) {
        INFO(name(f));
        auto const html = render_body(make_ctx(f), body_format::html).body;
        CHECK(contains(html, "id=\"cf-browser-status\""));
        CHECK(contains(html, "id=\"cf-cloudflare-status\""));
        CHECK(contains(html, "id=\"cf-host-status\""));
        CHECK(count(html, "cf-error-source\"") == 1);
        CHECK(count(html, ">Working</span>") == 2);
        CHECK(count(html, ">Error</span>") == 1);
        std::string expected_id;
        switch (info(f).box) {
        case failing_box::browser: expected_id = "cf-browser-status"; break;
        case failing_box::edge: expected_id = "cf-cloudflare-status"; break;
        case failing_box::host: expected_id = "cf-host-status"; break;
        }
        CHECK(contains(html, "id=\"" + expected_id + "\" class=\"cf-box cf-error-source\""));
    }
    auto const html = render_body(make_ctx(failure::connect_timeout), body_format::html).body;
    CHECK(contains(html, ">You</span><h3>Browser</h3>"));
    CHECK(contains(html, ">LOC</span><h3>Edge</h3>"));
    CHECK(contains(html, ">example.com</span><h3>Host</h3><span class=\"cf-s cf-err\">Error</span>"));
}

TEST_CASE("HTML: self-contained, nothing loaded from elsewhere", "[error_page][html]") {
    // The checker itself must catch what it is for.
    REQUIRE(has_remote_reference("<link rel=stylesheet href=\"https://x/y.css\">"));
    REQUIRE(has_remote_reference("<script src = '//cdn.example/x.js'></script>"));
    REQUIRE_FALSE(has_remote_reference("<use href=\"#icon\"/>"));
    for (auto f : all_failures) {
        INFO(name(f));
        auto const html = render_body(make_ctx(f), body_format::html).body;
        CHECK_FALSE(has_remote_reference(html));
        CHECK_FALSE(contains(html, "<link"));
        CHECK_FALSE(contains(html, "@import"));
        CHECK_FALSE(contains(html, "url("));
        CHECK_FALSE(contains(html, "<img"));
        CHECK_FALSE(contains(html, "<script src"));
        CHECK_FALSE(contains(html, "http://"));
        CHECK(contains(html, "<style>"));
        CHECK(contains(html, "<svg"));
    }
}

TEST_CASE("HTML: every network-supplied value is escaped", "[error_page][html]") {
    auto ctx = make_ctx(failure::access_denied);
    ctx.host = "<script>alert(1)</script>";
    ctx.client_ip = "\"><img src=x onerror=alert(2)>";
    ctx.colo = "<b>";
    ctx.ray_id = "<i>ray</i>";
    ctx.diagnosis = "<svg onload=alert(3)> & 'quoted'";
    auto const html = render_body(ctx, body_format::html).body;
    CHECK_FALSE(contains(html, "<script>alert"));
    CHECK_FALSE(contains(html, "<img"));
    CHECK_FALSE(contains(html, "<b>"));
    CHECK_FALSE(contains(html, "<i>"));
    CHECK_FALSE(contains(html, "<svg onload"));
    CHECK(contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    CHECK(contains(html, "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    CHECK(contains(html, "&lt;svg onload=alert(3)&gt; &amp; &#39;quoted&#39;"));
    CHECK(contains(html, "<title>Access denied | &lt;script&gt;alert(1)&lt;/script&gt; used edge522"));
    // The only scripts are ours: one inline IP-reveal script.
    CHECK(count(html, "<script") == 1);
}

TEST_CASE("Markdown: front matter, headings, diagnosis", "[error_page][markdown]") {
    for (auto f : all_failures) {
        INFO(name(f));
        auto const& i = info(f);
        auto const md = render_body(make_ctx(f), body_format::markdown).body;
        auto const kv = front_matter(md);
        std::map<std::string, json::value> fields;
        for (auto const& [k, v] : kv) fields[k] = json::parse(v);  // values are JSON scalars
        for (auto const* k : {"type", "title", "instance", "footer"}) CHECK(fields.count(k) == 0);
        CHECK(fields.at("status").as_int64() == i.status);
        CHECK(fields.at("error_code").as_int64() == i.error_code);
        CHECK(fields.at("error_name").as_string() == i.error_name);
        CHECK(fields.at("error_category").as_string() == i.category);
        CHECK(fields.at("ray_id").as_string() == "8f3a1b2c4d5e6f70-LOC");
        CHECK(fields.at("timestamp").as_string() == "2026-04-24T09:22:40Z");
        CHECK(fields.at("zone").as_string() == "example.com");
        CHECK(fields.at("cloudflare_error").as_bool());
        CHECK(fields.at("retryable").as_bool() == i.retryable);
        CHECK(fields.at("retry_after").is_null() == !i.retry_after.has_value());
        CHECK(fields.at("owner_action_required").as_bool() == i.owner_action_required);
        CHECK(fields.at("what_you_should_do").is_string());
        CHECK(fields.at("detail").is_string());
        CHECK(fields.at("diagnosis").is_string());
        CHECK(contains(md, "\n# Error " + std::to_string(i.error_code) + ": " + std::string(i.title) + "\n"));
        CHECK(contains(md, "\n## What Happened\n"));
        CHECK(contains(md, "\n## What You Should Do\n"));
        CHECK(contains(md, "\n## What The Edge Saw\n"));
    }
    auto const md = render_body(make_ctx(failure::connect_timeout), body_format::markdown).body;
    CHECK(contains(md, "\n# Error 522: Connection timed out\n"));
    CHECK(contains(md, "\nretry_after: 120\n"));
}

TEST_CASE("Markdown: hostile values stay inside their quotes and code spans", "[error_page][markdown]") {
    auto ctx = make_ctx(failure::access_denied);
    ctx.host = "evil\n---\ninjected: true\n`x`";
    ctx.diagnosis = "```\n# fake heading";
    auto const md = render_body(ctx, body_format::markdown).body;
    auto const kv = front_matter(md);
    bool saw_zone = false;
    for (auto const& [k, v] : kv) {
        CHECK(k != "injected");
        if (k == "zone") {
            saw_zone = true;
            CHECK(json::parse(v).as_string() == "evil---injected: true`x`");
        }
    }
    CHECK(saw_zone);
    CHECK_FALSE(contains(md, "\n# fake heading"));
    CHECK(contains(md, "````\n```# fake heading\n````"));
}

// ---------------------------------------------------------------------------------------------
// error_pages: the templates built once per config
// ---------------------------------------------------------------------------------------------

namespace {

struct wire_parts {
    std::string status_line;
    std::vector<std::string> headers;  // "Name: value", in order
    std::string body;
};

wire_parts split_wire(std::string const& w) {
    wire_parts p;
    auto const end = w.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    std::size_t pos = 0;
    bool first = true;
    while (pos < end) {
        auto const eol = w.find("\r\n", pos);
        auto line = w.substr(pos, std::min(eol, end) - pos);
        if (first) p.status_line = line;
        else p.headers.push_back(line);
        first = false;
        pos = std::min(eol, end) + 2;
    }
    p.body = w.substr(end + 4);
    return p;
}

std::vector<std::string> without_connection(std::vector<std::string> h) {
    std::erase_if(h, [](std::string const& line) { return line.rfind("Connection: ", 0) == 0; });
    return h;
}

page_request to_request(page_context const& c) {
    return page_request{c.what, c.host, c.ray_id, c.client_ip, c.diagnosis, c.when};
}

std::string write_page(error_pages const& pages, page_request const& r, body_format fmt, bool keep_alive = true,
                       bool http10 = false, bool head_only = false) {
    std::string out;
    pages.write(out, r, fmt, keep_alive, http10, head_only);
    return out;
}

// The old wire bytes against the new ones: the same status line (the old one at HTTP/1.1), the
// same headers in the same order but Connection, which now comes last; the same body.
void check_same_as_legacy(error_pages const& pages, page_context const& ctx, body_format fmt, bool keep_alive) {
    auto const old_wire = split_wire(wire(legacy::make_error_response(ctx, fmt, 11, keep_alive)));
    auto const got = write_page(pages, to_request(ctx), fmt, keep_alive);
    auto const now = split_wire(got);
    CHECK(now.status_line == old_wire.status_line);
    CHECK(without_connection(now.headers) == without_connection(old_wire.headers));
    if (keep_alive) {
        CHECK(now.headers.back().rfind("Content-Length: ", 0) == 0);
    } else {
        CHECK(now.headers.back() == "Connection: close");
        CHECK(std::count(old_wire.headers.begin(), old_wire.headers.end(), "Connection: close") == 1);
    }
    CHECK(now.body == old_wire.body);
    // render_body and make_error_response are the same renderer.
    CHECK(render_body(ctx, fmt).body == now.body);
    CHECK(wire(make_error_response(ctx, fmt, 11, keep_alive)).size() == got.size());
}

// RFC 3629, written out again as the test's own oracle.
bool valid_utf8(std::string_view s) {
    auto const* p = reinterpret_cast<unsigned char const*>(s.data());
    for (std::size_t i = 0, n = s.size(); i < n;) {
        unsigned const c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c == 0xe0) len = 3, lo = 0xa0;
        else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) len = 3;
        else if (c == 0xed) len = 3, hi = 0x9f;
        else if (c == 0xf0) len = 4, lo = 0x90;
        else if (c >= 0xf1 && c <= 0xf3) len = 4;
        else if (c == 0xf4) len = 4, hi = 0x8f;
        if (len == 0 || i + len > n) return false;
        for (std::size_t k = 1; k < len; ++k)
            if (p[i + k] < (k == 1 ? lo : 0x80u) || p[i + k] > (k == 1 ? hi : 0xbfu)) return false;
        i += len;
    }
    return true;
}

} // namespace

TEST_CASE("templates: every failure x format is byte-identical to the pre-template renderer",
          "[error_page][templates]") {
    struct variant {
        std::string label;
        page_context ctx;
    };
    std::vector<variant> variants;
    for (auto f : all_failures) {
        auto c = make_ctx(f);
        variants.push_back({"typical", c});
        c.host = "";
        c.diagnosis = "";
        variants.push_back({"no host, no diagnosis", c});
        c = make_ctx(f);
        c.host = "<script>alert('x')</script>\"&`tick`\x80\xff\xc3\x28\r\nX-Injected: 1\t\xe2\x82";
        c.client_ip = "\"><img src=x>`\\";
        c.ray_id = "<i>ray</i>\r\n";
        c.diagnosis = "\t a\r\nb ``` c \x01\x7f\xff <b>&\"\\ \xf0\x9f\x98\x80 \x1b[31m ";
        variants.push_back({"hostile, within bounds", c});
    }
    error_pages const pages{"LOC", "cloudflare", true};
    for (auto const& v : variants) {
        for (auto fmt : all_formats) {
            for (bool keep_alive : {true, false}) {
                INFO(v.label << ": " << name(v.ctx.what) << " format " << int(fmt) << " keep-alive " << keep_alive);
                check_same_as_legacy(pages, v.ctx, fmt, keep_alive);
            }
        }
    }

    SECTION("diagnostics off, odd colo and Server values") {
        error_pages const quiet{"<b>`x`</b>\r\n", "edge\r\n522 \xff", false};
        for (auto f : all_failures) {
            for (auto fmt : all_formats) {
                INFO(name(f) << " format " << int(fmt));
                auto c = make_ctx(f);
                c.colo = "<b>`x`</b>\r\n";
                c.server_header = "edge\r\n522 \xff";
                c.diagnostics = false;
                check_same_as_legacy(quiet, c, fmt, true);
            }
        }
    }

    SECTION("random values and instants") {
        std::mt19937 rng(522);
        auto random_bytes = [&](std::size_t max_len) {
            std::string s(std::uniform_int_distribution<std::size_t>(0, max_len)(rng), '\0');
            // Mostly text, with every kind of trouble mixed in.
            static constexpr std::string_view pool =
                "ab.-:<>&\"'`\\ \t\r\n\x01\x7f\x80\xbf\xc3\xa9\xe2\x82\xac\xed\xa0\x80\xf0\x9f\x98\x80\xff";
            for (auto& ch : s) ch = pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng)];
            return s;
        };
        for (int i = 0; i < 400; ++i) {
            auto const f = all_failures[std::uniform_int_distribution<std::size_t>(0, all_failures.size() - 1)(rng)];
            auto const fmt = all_formats[std::uniform_int_distribution<std::size_t>(0, all_formats.size() - 1)(rng)];
            // Short enough that even 6x HTML escaping stays under every page_limits bound.
            auto const host = random_bytes(150), ip = random_bytes(20), ray = random_bytes(20);
            auto const diag = random_bytes(150);
            auto c = make_ctx(f);
            c.host = host;
            c.client_ip = ip;
            c.ray_id = ray;
            c.diagnosis = diag;
            c.when = std::chrono::system_clock::time_point{
                std::chrono::seconds{std::uniform_int_distribution<std::int64_t>(0, 4102444800)(rng)}};  // to 2100
            INFO("iteration " << i << " " << name(f) << " format " << int(fmt));
            check_same_as_legacy(pages, c, fmt, i % 2 == 0);
        }
    }
}

TEST_CASE("templates: hostile host and diagnosis are escaped and bounded", "[error_page][templates]") {
    std::string host = "<script>alert(1)</script>\"'&`\r\nX-Injected: 1\r\n";
    for (int b = 0x80; b <= 0xff; ++b) host += char(b);
    std::string diag = "<script>alert(2)</script>\r\nX-Injected: 2\r\n";
    diag.push_back('\0');
    while (diag.size() < 70 * 1024) diag += "\"quoted\" `tick` \xff\xfe <b>bold</b> \x1b[31m\r\n ";
    error_pages const pages{"LOC", "cloudflare", true};
    REQUIRE_FALSE(valid_utf8("\xed\xa0\x80"));  // the oracle knows a surrogate
    REQUIRE(valid_utf8("\xf0\x9f\x98\x80"));

    for (auto f : all_failures) {
        for (auto fmt : all_formats) {
            INFO(name(f) << " format " << int(fmt));
            page_request const r{f, host, "8f3a1b2c4d5e6f70-LOC", "203.0.113.7\r\nX: y", diag, example_time};
            auto const out = write_page(pages, r, fmt);
            auto const parts = split_wire(out);
            // The head: one line per header, nothing injected, the diagnosis line bounded.
            for (auto const& line : parts.headers) {
                for (char ch : line) CHECK_FALSE(is_control_byte(ch));
                CHECK(line.rfind("X-Injected", 0) != 0);
                CHECK(line.size() <= 19 + page_limits::diagnosis_header + 3);
            }
            auto const diag_line = std::find_if(parts.headers.begin(), parts.headers.end(), [](auto const& l) {
                return l.rfind("Edge522-Diagnosis: ", 0) == 0;
            });
            REQUIRE(diag_line != parts.headers.end());
            CHECK(diag_line->size() > 19 + page_limits::diagnosis_header - 8);
            CHECK(diag_line->substr(diag_line->size() - 3) == "...");
            CHECK(diag_line->rfind("Edge522-Diagnosis: <script>alert(2)</script>X-Injected: 2\"quoted\"", 0) == 0);
            // The body: bounded whatever the input, valid UTF-8.
            CHECK(parts.body.size() < 32 * 1024);
            CHECK(valid_utf8(parts.body));
            switch (fmt) {
            case body_format::html:
                CHECK_FALSE(contains(parts.body, "<script>alert"));
                CHECK_FALSE(contains(parts.body, "<b>bold"));
                CHECK(count(parts.body, "<script") == 1);
                CHECK(contains(parts.body, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;`X-Injected: 1"));
                CHECK(contains(parts.body, "\xe2\x80\xa6</pre>"));  // the diagnosis, cut and marked
                break;
            case body_format::json:
            case body_format::problem_json: {
                json::value jv;
                REQUIRE_NOTHROW(jv = json::parse(parts.body));
                std::string expected_zone = "<script>alert(1)</script>\"'&`X-Injected: 1";
                for (int b = 0x80; b <= 0xff; ++b) expected_zone += "\xef\xbf\xbd";  // each lone byte
                CHECK(jv.at("zone").as_string() == expected_zone);
                auto const d = std::string(jv.at("diagnosis").as_string());
                CHECK(d.rfind("<script>alert(2)</script>X-Injected: 2\"quoted\" `tick` \xef\xbf\xbd\xef\xbf\xbd", 0) ==
                      0);
                CHECK(d.substr(d.size() - 3) == "\xe2\x80\xa6");
                CHECK(d.size() <= page_limits::diagnosis + 3);
                break;
            }
            case body_format::markdown: {
                for (auto const& [k, v] : front_matter(parts.body)) {
                    CHECK(k != "X-Injected");
                    REQUIRE_NOTHROW(json::parse(v));
                }
                CHECK_FALSE(contains(parts.body, "\nX-Injected"));
                CHECK(contains(parts.body, "\n## What The Edge Saw\n\n```\n<script>alert(2)"));
                CHECK(contains(parts.body, "\xe2\x80\xa6\n```\n"));
                break;
            }
            }
        }
    }

    SECTION("a 70 KB host is cut too") {
        std::string const huge(70 * 1024, 'h');
        page_request const r{failure::connect_timeout, huge, "ray", "ip", "", example_time};
        for (auto fmt : all_formats) {
            auto const body = split_wire(write_page(pages, r, fmt)).body;
            CHECK(body.size() < 24 * 1024);
            CHECK(contains(body, std::string(page_limits::host, 'h') + "\xe2\x80\xa6"));
            CHECK_FALSE(contains(body, std::string(page_limits::host + 1, 'h')));
        }
    }
}

TEST_CASE("templates: HEAD, keep-alive, HTTP/1.0 clients, Date, appending", "[error_page][templates]") {
    error_pages const pages{"LOC", "cloudflare", true};
    auto const r = to_request(make_ctx(failure::connect_timeout));
    for (auto fmt : all_formats) {
        INFO("format " << int(fmt));
        auto const get = write_page(pages, r, fmt);
        auto const parts = split_wire(get);
        CHECK(parts.status_line == "HTTP/1.1 522 Connection Timed Out");
        CHECK(parts.headers.front() == "Date: Fri, 24 Apr 2026 09:22:40 GMT");
        CHECK(parts.headers.back() == "Content-Length: " + std::to_string(parts.body.size()));

        // HEAD: the GET's head, Content-Length included, and not one byte more.
        auto const head = write_page(pages, r, fmt, true, false, true);
        CHECK(head == get.substr(0, get.find("\r\n\r\n") + 4));

        // Connection: absent for a keep-alive 1.1 client, close whenever the edge closes,
        // keep-alive for a 1.0 client that keeps the connection; the status line stays HTTP/1.1.
        auto const ends_with = [](std::string const& s, std::string_view tail) {
            return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
        };
        auto const close11 = write_page(pages, r, fmt, false, false, true);
        CHECK(ends_with(close11, "\r\nConnection: close\r\n\r\n"));
        auto const close10 = write_page(pages, r, fmt, false, true, true);
        CHECK(ends_with(close10, "\r\nConnection: close\r\n\r\n"));
        CHECK(close10.rfind("HTTP/1.1 522 Connection Timed Out\r\n", 0) == 0);
        auto const keep10 = write_page(pages, r, fmt, true, true, true);
        CHECK(ends_with(keep10, "\r\nConnection: keep-alive\r\n\r\n"));
        CHECK(keep10.rfind("HTTP/1.1 522 Connection Timed Out\r\n", 0) == 0);
        CHECK_FALSE(contains(head, "Connection:"));

        // write() appends; write_body() is what follows the blank line.
        std::string out = "previous bytes";
        pages.write(out, r, fmt, true, false, false);
        CHECK(out == "previous bytes" + get);
        std::string body;
        pages.write_body(body, r, fmt);
        CHECK(body == parts.body);
    }

    SECTION("Date and page times at other instants") {
        using std::chrono::seconds;
        auto date_of = [&](std::int64_t t) {
            auto rr = r;
            rr.when = std::chrono::system_clock::time_point{seconds{t}};
            return split_wire(write_page(pages, rr, body_format::json)).headers.front();
        };
        CHECK(date_of(0) == "Date: Thu, 01 Jan 1970 00:00:00 GMT");
        CHECK(date_of(1709251199) == "Date: Thu, 29 Feb 2024 23:59:59 GMT");
        CHECK(date_of(4102444800) == "Date: Fri, 01 Jan 2100 00:00:00 GMT");
        auto rr = r;
        rr.when = std::chrono::system_clock::time_point{seconds{1709251199}} + std::chrono::milliseconds(999);
        auto const jv = json::parse(split_wire(write_page(pages, rr, body_format::json)).body);
        CHECK(jv.at("timestamp").as_string() == "2024-02-29T23:59:59Z");
        CHECK(contains(split_wire(write_page(pages, rr, body_format::html)).body, ">2024-02-29 23:59:59 UTC<"));
    }

    SECTION("diagnostics off: no section, no header, whatever the request carries") {
        error_pages const quiet{"LOC", "cloudflare", false};
        for (auto fmt : all_formats) {
            auto const out = write_page(quiet, r, fmt);
            CHECK_FALSE(contains(out, "Edge522-Diagnosis"));
            CHECK_FALSE(contains(out, "no SYN-ACK"));
        }
    }
}

TEST_CASE("templates: every page of the table is built, and small", "[error_page][templates]") {
    error_pages const pages{"LOC", "cloudflare", true};
    for (auto f : all_failures) {
        for (auto fmt : all_formats) {
            auto const parts = split_wire(write_page(pages, to_request(make_ctx(f)), fmt));
            CHECK(parts.status_line ==
                  "HTTP/1.1 " + std::to_string(info(f).status) + " " + std::string(info(f).reason));
        }
    }
    CHECK(pages.footprint() < 1024 * 1024);
    error_pages source{"LOC", "cloudflare", true};
    error_pages const moved = std::move(source);
    CHECK(moved.footprint() == pages.footprint());
}

// Run with: edge522_unit "[.bench]"  (hidden from the default run)
TEST_CASE("bench: a 522 HTML page, the pre-template renderer vs the templates", "[.bench][error_page]") {
    using bench_clock = std::chrono::steady_clock;
    auto const ctx = make_ctx(failure::connect_timeout);
    auto const r = to_request(ctx);
    constexpr int n = 20000;
    std::size_t sink = 0;
    // The best of 5 rounds: the least disturbed by whatever else the machine runs.
    auto per_call_ns = [&](auto&& fn) {
        for (int i = 0; i < n / 10; ++i) fn();  // warm up
        double best = 1e18;
        for (int round = 0; round < 5; ++round) {
            auto const t0 = bench_clock::now();
            for (int i = 0; i < n / 5; ++i) fn();
            best = std::min(best, std::chrono::duration<double, std::nano>(bench_clock::now() - t0).count() / (n / 5));
        }
        return best;
    };

    double const old_render = per_call_ns(
        [&] { sink += legacy::make_error_response(ctx, body_format::html, 11, true).body().size(); });
    double const old_wire = per_call_ns([&] {
        auto res = legacy::make_error_response(ctx, body_format::html, 11, true);
        http::response_serializer<http::string_body> sr{res};
        boost::system::error_code ec;
        // What async_write gathers: head and body buffers (no copy of the body).
        sr.next(ec, [&](boost::system::error_code&, auto const& buffers) {
            sink += boost::asio::buffer_size(buffers);
            sr.consume(boost::asio::buffer_size(buffers));
        });
    });
    error_pages const pages{"LOC", "cloudflare", true};
    std::string out;
    double const new_reused = per_call_ns([&] {
        out.clear();
        pages.write(out, r, body_format::html, true, false, false);
        sink += out.size();
    });
    std::size_t const html_size = out.size();
    double const new_fresh = per_call_ns([&] {
        std::string o;
        pages.write(o, r, body_format::html, true, false, false);
        sink += o.size();
    });
    auto const json_old = per_call_ns(
        [&] { sink += legacy::make_error_response(ctx, body_format::json, 11, true).body().size(); });
    auto const json_new = per_call_ns([&] {
        out.clear();
        pages.write(out, r, body_format::json, true, false, false);
        sink += out.size();
    });
    auto const t0 = bench_clock::now();
    for (int i = 0; i < 20; ++i) {
        error_pages const p{"LOC", "cloudflare", true};
        sink += p.footprint();
    }
    double const build_us = std::chrono::duration<double, std::micro>(bench_clock::now() - t0).count() / 20;

    std::printf("522 HTML (%zu bytes on the wire), ns per answer:\n", html_size);
    std::printf("  old make_error_response          %8.0f\n", old_render);
    std::printf("  old make_error_response + head   %8.0f\n", old_wire);
    std::printf("  new write(), reused string       %8.0f\n", new_reused);
    std::printf("  new write(), fresh string        %8.0f\n", new_fresh);
    std::printf("522 JSON: old %.0f ns, new %.0f ns\n", json_old, json_new);
    std::printf("error_pages construction: %.0f us, %zu KiB of templates\n", build_us, pages.footprint() / 1024);
    CHECK(sink > 0);
}
