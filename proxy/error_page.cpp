#include "proxy/error_page.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <optional>

namespace edge522 {

namespace http = boost::beast::http;
namespace json = boost::json;

// ---------------------------------------------------------------------------------------------
// Content negotiation
// ---------------------------------------------------------------------------------------------

namespace {

constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// RFC 9110 tchar.
constexpr bool is_tchar(char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

// Calls f(piece) for each piece of `s` between `sep`s, ignoring separators inside a
// quoted-string (a parameter value may legally contain ',' or ';').
template <class F>
void split_unquoted(std::string_view s, char sep, F&& f) {
    std::size_t start = 0;
    bool quoted = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char const c = s[i];
        if (quoted) {
            if (c == '\\') ++i;  // quoted-pair; the loop bound keeps a trailing '\' in range
            else if (c == '"') quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == sep) {
            f(s.substr(start, i - start));
            start = i + 1;
        }
    }
    if (start <= s.size()) f(s.substr(start));
}

// qvalue in thousandths. Lenient where it costs nothing (extra digits, "1.5" clamped), but a
// value that is not a number at all makes the caller drop the whole range: guessing a weight
// for junk could pick a format the client never asked for.
std::optional<unsigned> parse_qvalue(std::string_view v) noexcept {
    if (v.empty() || (v[0] != '0' && v[0] != '1')) return std::nullopt;
    unsigned q = v[0] == '1' ? 1000u : 0u;
    if (v.size() == 1) return q;
    if (v[1] != '.') return std::nullopt;
    unsigned scale = 100;
    for (std::size_t i = 2; i < v.size(); ++i) {
        if (v[i] < '0' || v[i] > '9') return std::nullopt;
        q += scale * unsigned(v[i] - '0');
        scale /= 10;
    }
    return q > 1000 ? 1000u : q;
}

// How specifically a media range names what format `fmt` produces: 3 exact, 2 a text/ subtype
// we treat as Markdown, 1 a type/* wildcard, 0 */*, -1 no match. text/* deliberately maps to
// Markdown only (Cloudflare's documented rule), not to HTML.
int specificity(body_format fmt, std::string_view type, std::string_view sub) noexcept {
    if (type == "*" && sub == "*") return 0;
    switch (fmt) {
    case body_format::html:
        return iequals(type, "text") && iequals(sub, "html") ? 3 : -1;
    case body_format::json:
        if (!iequals(type, "application")) return -1;
        return iequals(sub, "json") ? 3 : sub == "*" ? 1 : -1;
    case body_format::problem_json:
        if (!iequals(type, "application")) return -1;
        return iequals(sub, "problem+json") ? 3 : sub == "*" ? 1 : -1;
    case body_format::markdown:
        if (!iequals(type, "text")) return -1;
        if (iequals(sub, "markdown")) return 3;
        if (sub == "*") return 1;
        return iequals(sub, "html") ? -1 : 2;
    }
    return -1;
}

struct match {
    int spec = -1;
    unsigned q = 0;
    std::size_t index = 0;
};

} // namespace

body_format negotiate(std::string_view accept) {
    // Tie order when q and position are equal (e.g. everything matched by one */*): HTML first,
    // because browsers and curl send */* and expect the page.
    constexpr std::array<body_format, 4> formats{body_format::html, body_format::json,
                                                 body_format::markdown, body_format::problem_json};
    std::array<match, 4> best{};
    std::size_t index = 0;

    split_unquoted(accept, ',', [&](std::string_view element) {
        element = trim_ows(element);
        if (element.empty()) return;  // RFC 9110 #rule allows empty list elements
        std::size_t const position = index++;

        std::string_view range;
        std::optional<unsigned> q = 1000u;
        bool first = true, seen_q = false;
        split_unquoted(element, ';', [&](std::string_view piece) {
            piece = trim_ows(piece);
            if (first) {
                range = piece;
                first = false;
                return;
            }
            auto const eq = piece.find('=');
            if (eq == std::string_view::npos || seen_q) return;
            if (iequals(trim_ows(piece.substr(0, eq)), "q")) {
                seen_q = true;  // only the first weight counts; later ones are accept-ext
                q = parse_qvalue(trim_ows(piece.substr(eq + 1)));
            }
        });
        if (!q) return;

        auto const slash = range.find('/');
        if (slash == std::string_view::npos) return;
        auto const type = range.substr(0, slash), sub = range.substr(slash + 1);
        if (!is_token(type) || !is_token(sub)) return;
        if (type == "*" && sub != "*") return;  // "*/json" is not a media range

        for (std::size_t i = 0; i < formats.size(); ++i) {
            int const s = specificity(formats[i], type, sub);
            // The most specific range decides a format's weight (RFC 9110 12.5.1), so
            // "application/json;q=0, */*" still refuses JSON.
            if (s > best[i].spec) best[i] = match{s, *q, position};
        }
    });

    std::optional<std::size_t> winner;
    for (std::size_t i = 0; i < formats.size(); ++i) {
        auto const& m = best[i];
        if (m.spec < 0 || m.q == 0) continue;
        if (!winner || m.q > best[*winner].q || (m.q == best[*winner].q && m.index < best[*winner].index))
            winner = i;
    }
    // Nothing acceptable: the page anyway rather than 406; an error answer must not fail again.
    return winner ? formats[*winner] : body_format::html;
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

namespace {

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

} // namespace

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
    auto rendered = render_body(ctx, fmt);

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

} // namespace edge522
