#include "proxy/error_page.hpp"

#include "proxy/diagnosis.hpp"
#include "proxy/page_escape.hpp"
#include "proxy/wire.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace edge522 {

namespace http = boost::beast::http;
namespace json = boost::json;

// ---------------------------------------------------------------------------------------------
// Content negotiation
// ---------------------------------------------------------------------------------------------

namespace {

using boost::beast::iequals;

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
// Rendering: templates built once per config, filled per request
// ---------------------------------------------------------------------------------------------
//
//   error_pages(colo, server, diagnostics)          once per loaded config
//     -> page_template per (failure, body_format): fixed text + holes, e.g.
//        "<title>" [host|html] " | 522: Connection timed out</title>..." [ray|html] "..."
//   write(request)                                   per answer
//     -> request_values (the request's fields, bounded; its times formatted)
//     -> fill(counter) for Content-Length, then fill(appender) into the caller's string

namespace {

using page_escape::esc;
using page_escape::escape_ascii;
using page_escape::is_control;
using page_escape::plain_run;

// What fills a hole; `literal` segments are fixed text.
enum class field : std::uint8_t {
    literal, host, client_ip, ray_id, ray_id_header, diagnosis, diagnosis_header, page_time, iso_time, http_date,
    md_fence
};

// When a segment is sent.
enum class cond : std::uint8_t { always, host_set, host_unset, diagnosis };

constexpr std::string_view replacement_char = "\xef\xbf\xbd";  // U+FFFD
constexpr std::string_view ellipsis = "\xe2\x80\xa6";          // U+2026, marks a cut value
constexpr std::string_view ascii_ellipsis = "...";             // the same in a header line

// Length of the valid UTF-8 sequence at p (n bytes left), 0 when invalid (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_length(unsigned char const* p, std::size_t n) noexcept {
    unsigned char const c = p[0];
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
    if (len == 0 || len > n) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        unsigned char const lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xbf;
        if (p[k] < lo_k || p[k] > hi_k) return 0;
    }
    return len;
}

// Sends `raw` to `sink` cleaned (invalid UTF-8 -> U+FFFD; control bytes dropped, tab -> space, so
// the value is one line) and escaped for `e`; cut at a character boundary before its output
// passes `limit` bytes, then `marker`. Runs of unchanged bytes go out in one piece.
template <class Sink>
void put_value(Sink& sink, std::string_view raw, esc e, std::size_t limit, std::string_view marker) {
    auto const* p = reinterpret_cast<unsigned char const*>(raw.data());
    std::size_t const n = raw.size();
    std::size_t used = 0, i = 0, run = 0;  // run: first byte passed through but not yet sent
    for (;;) {
        std::size_t const j = plain_run(p, i, n, e);
        if (used + (j - i) > limit) {  // the cut falls inside a run of ASCII
            sink(raw.substr(run, i + (limit - used) - run));
            sink(marker);
            return;
        }
        used += j - i;
        i = j;
        if (i == n) break;

        unsigned char const c = p[i];
        std::size_t len = 1;
        std::string_view rep;
        bool same = false;
        if (c >= 0x80) {
            len = utf8_length(p + i, n - i);
            if (len == 0) {
                len = 1;
                rep = replacement_char;
            } else {
                same = true;
            }
        } else if (is_control(c)) {
            rep = c == '\t' ? std::string_view(" ") : std::string_view{};
        } else {
            rep = escape_ascii(char(c), e);
        }
        std::size_t const grow = same ? len : rep.size();
        if (used + grow > limit) {
            sink(raw.substr(run, i - run));
            sink(marker);
            return;
        }
        used += grow;
        if (!same) {
            sink(raw.substr(run, i - run));
            sink(rep);
            run = i + len;
        }
        i += len;
    }
    sink(raw.substr(run));
}

struct counter {
    std::size_t n = 0;
    void operator()(std::string_view s) noexcept { n += s.size(); }
};

struct appender {
    std::string& out;
    void operator()(std::string_view s) { out.append(s); }
};

// For fixed values (colo, Server): cleaned and escaped once, unbounded (they come from config).
std::string cleaned(std::string_view raw, esc e = esc::none) {
    std::string out;
    appender a{out};
    put_value(a, raw, e, std::string::npos, {});
    return out;
}

// A JSON string's contents (without quotes) for fixed text: Boost.JSON's own escaping.
std::string json_inner(std::string_view s) {
    auto q = json::serialize(json::string_view(s.data(), s.size()));
    return q.substr(1, q.size() - 2);
}

std::string json_quoted(std::string_view s) { return json::serialize(json::string_view(s.data(), s.size())); }

std::string html_escaped(std::string_view s) { return cleaned(s, esc::html); }

std::string decimal(unsigned v) { return std::to_string(v); }

// ---------------------------------------------------------------------------------------------
// Per-request values
// ---------------------------------------------------------------------------------------------

void put_digits(char* p, unsigned v, int width) noexcept {
    for (int k = width - 1; k >= 0; --k, v /= 10) p[k] = char('0' + v % 10);
}

// The three renderings of the answer's time, formatted without printf.
struct utc_stamp {
    char page[23];  // "2026-04-24 09:22:40 UTC" (the page)
    char iso[20];   // "2026-04-24T09:22:40Z" (JSON, ISO 8601)
    char date[29];  // "Fri, 24 Apr 2026 09:22:40 GMT" (RFC 9110 IMF-fixdate)

    explicit utc_stamp(std::chrono::system_clock::time_point tp) noexcept {
        using namespace std::chrono;
        static constexpr std::string_view wd = "SunMonTueWedThuFriSat";
        static constexpr std::string_view mon = "JanFebMarAprMayJunJulAugSepOctNovDec";
        auto const secs = floor<seconds>(tp);
        auto const day = floor<days>(secs);
        year_month_day const ymd{day};
        hh_mm_ss const hms{secs - day};
        unsigned const year = unsigned(std::clamp(int(ymd.year()), 0, 9999));
        unsigned const month = unsigned(ymd.month()), mday = unsigned(ymd.day());
        unsigned const h = unsigned(hms.hours().count()), m = unsigned(hms.minutes().count()),
                       s = unsigned(hms.seconds().count());
        unsigned const w = weekday{day}.c_encoding() % 7;

        std::memcpy(page, "0000-00-00 00:00:00 UTC", 23);
        put_digits(page, year, 4);
        put_digits(page + 5, month, 2);
        put_digits(page + 8, mday, 2);
        put_digits(page + 11, h, 2);
        put_digits(page + 14, m, 2);
        put_digits(page + 17, s, 2);
        std::memcpy(iso, page, 19);
        iso[10] = 'T';
        iso[19] = 'Z';

        std::memcpy(date, "Sun, 00 Jan 0000 00:00:00 GMT", 29);
        std::memcpy(date, wd.data() + 3 * w, 3);
        put_digits(date + 5, mday, 2);
        std::memcpy(date + 8, mon.data() + 3 * ((month + 11) % 12), 3);
        put_digits(date + 12, year, 4);
        std::memcpy(date + 17, page + 11, 8);
    }
};

// Trims what cleaning would turn into leading/trailing blanks or nothing: controls and spaces.
std::string_view trim_blank(std::string_view s) noexcept {
    auto blank = [](char c) { return c == ' ' || is_control(static_cast<unsigned char>(c)); };
    while (!s.empty() && blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && blank(s.back())) s.remove_suffix(1);
    return s;
}

// True when cleaning leaves something (only dropped control bytes -> empty).
bool has_text(std::string_view s) noexcept {
    for (char c : s)
        if (c == '\t' || !is_control(static_cast<unsigned char>(c))) return true;
    return false;
}

// A Markdown fence longer than any backtick run in the cleaned text, so the text cannot close it.
// Dropped control bytes do not break a run; everything else does.
std::size_t fence_length(std::string_view s) noexcept {
    std::size_t longest = 0, run = 0;
    for (char c : s) {
        auto const u = static_cast<unsigned char>(c);
        if (c == '`') longest = std::max(longest, ++run);
        else if (!is_control(u) || c == '\t') run = 0;
    }
    return std::max<std::size_t>(3, longest + 1);
}

// One request's fields, ready to fill any template.
struct request_values {
    std::string_view host, ip, ray, ray_line, diag;  // ray_line, diag: without leading/trailing blanks
    bool host_set, show_diag;
    std::size_t fence;
    utc_stamp time;

    request_values(page_request const& r, bool diagnostics, body_format fmt) noexcept
        : host(r.host), ip(r.client_ip), ray(r.ray_id), ray_line(trim_blank(r.ray_id)),
          diag(trim_blank(r.diagnosis)), host_set(has_text(r.host)), show_diag(diagnostics && !diag.empty()),
          fence(show_diag && fmt == body_format::markdown ? fence_length(diag) : 3), time(r.when) {}
};

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

struct segment {
    std::uint32_t off = 0, len = 0;  // a literal's bytes in page_template::text
    field f = field::literal;
    esc e = esc::none;
    cond c = cond::always;
};

struct page_template {
    std::string text;           // every literal, head and body, back to back
    std::vector<segment> head;  // status line .. the last fixed header (Content-Length, Connection are per request)
    std::vector<segment> body;
};

// Appends to one segment list: literals are merged while the condition stays the same.
class builder {
public:
    builder(page_template& t, std::vector<segment>& segs) : t_(t), segs_(segs) {}

    builder& operator+=(std::string_view s) {
        if (s.empty()) return *this;
        if (!segs_.empty() && segs_.back().f == field::literal && segs_.back().c == c_ &&
            segs_.back().off + segs_.back().len == t_.text.size()) {
            segs_.back().len += static_cast<std::uint32_t>(s.size());
        } else {
            segs_.push_back({static_cast<std::uint32_t>(t_.text.size()), static_cast<std::uint32_t>(s.size()),
                             field::literal, esc::none, c_});
        }
        t_.text += s;
        return *this;
    }
    builder& operator+=(char c) { return *this += std::string_view(&c, 1); }
    void hole(field f, esc e = esc::none) { segs_.push_back({0, 0, f, e, c_}); }
    void when(cond c) noexcept { c_ = c; }

private:
    page_template& t_;
    std::vector<segment>& segs_;
    cond c_ = cond::always;
};

// The fixed per-config inputs, cleaned once.
struct page_setup {
    std::string colo;
    std::string server;
    bool diagnostics;
};


enum class text_mode { html, markdown, plain };

// Expands one prose template into `b`: static text is escaped for `mode` (and for a JSON string
// when `in_json`); {host} and {ip} become holes escaped the same way; {colo} is fixed.
void expand(builder& b, std::string_view tpl, text_mode mode, bool in_json, page_setup const& ps) {
    std::string lit;
    auto flush = [&] {
        b += in_json ? json_inner(lit) : lit;
        lit.clear();
    };
    esc const value_esc = mode == text_mode::html       ? esc::html
                          : mode == text_mode::markdown ? (in_json ? esc::json_md_code : esc::md_code)
                                                        : (in_json ? esc::json : esc::none);
    bool in_code = false;
    for (std::size_t i = 0; i < tpl.size(); ++i) {
        char const c = tpl[i];
        if (c == '`') {
            if (mode == text_mode::html) lit += in_code ? "</code>" : "<code>";
            else if (mode == text_mode::markdown) lit += c;
            in_code = !in_code;
            continue;
        }
        if (c == '{') {
            auto const close = tpl.find('}', i);
            if (close != std::string_view::npos) {
                auto const key = tpl.substr(i + 1, close - i - 1);
                if (key == "host" || key == "ip") {
                    flush();
                    b.hole(key == "host" ? field::host : field::client_ip, value_esc);
                    i = close;
                    continue;
                }
                if (key == "colo") {
                    lit += cleaned(ps.colo, value_esc == esc::json_md_code ? esc::md_code
                                            : value_esc == esc::json   ? esc::none
                                                                       : value_esc);
                    i = close;
                    continue;
                }
            }
        }
        if (mode == text_mode::html) lit += html_escaped(std::string_view(&tpl[i], 1));
        else lit += c;
    }
    if (in_code && mode == text_mode::html) lit += "</code>";
    flush();
}

bool is_1xxx(failure_info const& fi) noexcept { return fi.error_code >= 1000; }

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

void markdown_advice(builder& b, failure f, bool in_json, page_setup const& ps) {
    auto lit = [&](std::string_view s) { b += in_json ? json_inner(s) : std::string(s); };
    auto const t = text_for(f);
    lit("**If you're a visitor of this website:**\n\n");
    expand(b, t.visitor, text_mode::markdown, in_json, ps);
    lit("\n\n**If you're the owner of this website:**\n");
    for (auto o : t.owner) {
        if (o.empty()) continue;
        lit("\n- ");
        expand(b, o, text_mode::markdown, in_json, ps);
    }
}

// The RFC 9457 members and Cloudflare's extensions, in the documented order: as one JSON object
// (`standard_members` adds type, title, instance, footer) or as YAML front matter lines, whose
// values are the same JSON scalars (valid YAML 1.2 flow scalars, so no YAML quoting is needed).
void problem_members(builder& b, failure f, bool as_json, page_setup const& ps) {
    auto const& fi = info(f);
    auto const t = text_for(f);
    bool first = true;
    auto key = [&](std::string_view k) {
        if (as_json) {
            b += first ? "\"" : ",\"";
            b += k;
            b += "\":";
        } else {
            b += k;
            b += ": ";
        }
        first = false;
    };
    auto end = [&] {
        if (!as_json) b += "\n";
    };
    auto scalar = [&](std::string_view k, std::string const& v) {
        key(k);
        b += v;
        end();
    };
    auto string_hole = [&](std::string_view k, field h) {
        key(k);
        b += "\"";
        b.hole(h, esc::json);
        b += "\"";
        end();
    };
    auto boolean = [](bool v) { return std::string(v ? "true" : "false"); };

    if (as_json) {
        scalar("type", json_quoted(docs_url(fi)));
        scalar("title", json_quoted(problem_title(fi)));
    }
    scalar("status", decimal(fi.status));
    key("detail");
    b += "\"";
    expand(b, t.happened, text_mode::plain, true, ps);
    b += "\"";
    end();
    if (as_json) string_hole("instance", field::ray_id);
    scalar("error_code", decimal(fi.error_code));
    scalar("error_name", json_quoted(fi.error_name));
    scalar("error_category", json_quoted(fi.category));
    string_hole("ray_id", field::ray_id);
    key("timestamp");
    b += "\"";
    b.hole(field::iso_time);
    b += "\"";
    end();
    string_hole("zone", field::host);
    scalar("cloudflare_error", "true");
    scalar("retryable", boolean(fi.retryable));
    scalar("retry_after", fi.retry_after ? decimal(*fi.retry_after) : std::string("null"));
    scalar("owner_action_required", boolean(fi.owner_action_required));
    key("what_you_should_do");
    b += "\"";
    markdown_advice(b, f, true, ps);
    b += "\"";
    end();
    if (as_json) {
        key("footer");
        b += "\"Ray ID: ";
        b.hole(field::ray_id, esc::json);
        b += json_inner(" \xe2\x80\xa2 Performance & security by edge522");
        b += "\"";
    }
    if (ps.diagnostics) {
        b.when(cond::diagnosis);
        string_hole("diagnosis", field::diagnosis);
        b.when(cond::always);
    }
}

void build_json(builder& b, failure f, page_setup const& ps) {
    b += "{";
    problem_members(b, f, true, ps);
    b += "}\n";
}

void build_markdown(builder& b, failure f, page_setup const& ps) {
    auto const& fi = info(f);
    auto const t = text_for(f);
    b += "---\n";
    problem_members(b, f, false, ps);
    b += "---\n\n# " + problem_title(fi) + "\n\n## What Happened\n\n";
    expand(b, t.happened, text_mode::markdown, false, ps);
    b += "\n\n## What You Should Do\n\n";
    markdown_advice(b, f, false, ps);
    b += "\n";
    if (ps.diagnostics) {
        b.when(cond::diagnosis);
        b += "\n## What The Edge Saw\n\n";
        b.hole(field::md_fence);
        b += "\n";
        b.hole(field::diagnosis);
        b += "\n";
        b.hole(field::md_fence);
        b += "\n";
        b.when(cond::always);
    }
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

void append_box(builder& b, std::string_view id, std::string_view icon, std::string_view fixed_label,
                field label_hole, std::string_view h3, bool failing) {
    b += "<div id=\"";
    b += id;
    b += failing ? "\" class=\"cf-box cf-error-source\">" : "\" class=\"cf-box\">";
    b += "<div class=\"cf-ic\">";
    b += svg_open;
    b += icon;
    b += "</svg>";
    b += failing ? badge_error : badge_ok;
    b += "</div><span class=\"cf-l\">";
    if (label_hole == field::host) {
        // The host's own name, or "Host" when the request had none.
        b.when(cond::host_set);
        b.hole(field::host, esc::html);
        b.when(cond::host_unset);
        b += fixed_label;
        b.when(cond::always);
    } else {
        b += html_escaped(fixed_label);
    }
    b += "</span><h3>";
    b += h3;
    b += failing ? "</h3><span class=\"cf-s cf-err\">Error</span></div>"
                 : "</h3><span class=\"cf-s cf-ok\">Working</span></div>";
}

void build_html(builder& b, failure f, page_setup const& ps) {
    auto const& fi = info(f);
    auto const t = text_for(f);
    std::string const code = decimal(fi.error_code);

    b += "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<meta charset=\"UTF-8\">\n"
         "<meta http-equiv=\"X-UA-Compatible\" content=\"IE=Edge\">\n"
         "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>";
    if (f == failure::access_denied) {
        // Cloudflare's block page has its own title form.
        b += "Access denied | ";
        b.when(cond::host_set);
        b.hole(field::host, esc::html);
        b.when(cond::host_unset);
        b += "this website";
        b.when(cond::always);
        b += " used edge522 to restrict access";
    } else {
        b.when(cond::host_set);
        b.hole(field::host, esc::html);
        b += " | ";
        b.when(cond::always);
        b += decimal(fi.status) + ": " + html_escaped(fi.title);
    }
    b += "</title>\n<style>";
    b += page_css;
    b += "</style>\n</head>\n<body>\n<div id=\"cf-wrapper\"><div id=\"cf-error-details\">\n"
         "<header class=\"cf-w\"><h1><span class=\"cf-t\">";
    b += html_escaped(fi.title);
    // 1xxx errors are known by their own number (the status is in the title): "Error 1016".
    b += "</span><span class=\"code-label\">";
    b += is_1xxx(fi) ? "Error " + code : "Error code " + code;
    b += "</span></h1>\n<div class=\"cf-time\">";
    b.hole(field::page_time);
    b += "</div></header>\n";

    b += "<div class=\"cf-band\"><div class=\"cf-w cf-boxes\">\n";
    append_box(b, "cf-browser-status", icon_browser, "You", field::literal, "Browser", fi.box == failing_box::browser);
    append_box(b, "cf-cloudflare-status", icon_cloud, ps.colo.empty() ? std::string_view("Edge") : ps.colo,
               field::literal, "Edge", fi.box == failing_box::edge);
    append_box(b, "cf-host-status", icon_server, "Host", field::host, "Host", fi.box == failing_box::host);
    b += "</div></div>\n";

    b += "<div class=\"cf-w cf-cols\">\n<section><h2>What happened?</h2><p>";
    expand(b, t.happened, text_mode::html, false, ps);
    b += "</p></section>\n<section><h2>What can I do?</h2>"
         "<h4>If you're a visitor of this website:</h4><p>";
    expand(b, t.visitor, text_mode::html, false, ps);
    b += "</p><h4>If you're the owner of this website:</h4><ul>";
    for (auto o : t.owner) {
        if (o.empty()) continue;
        b += "<li>";
        expand(b, o, text_mode::html, false, ps);
        b += "</li>";
    }
    b += "</ul></section>\n</div>\n";

    if (ps.diagnostics) {
        b.when(cond::diagnosis);
        b += "<div class=\"cf-w\"><section class=\"cf-diag\"><h2>What the edge saw</h2><pre>";
        b.hole(field::diagnosis, esc::html);
        b += "</pre></section></div>\n";
        b.when(cond::always);
    }

    b += "<div class=\"cf-w\"><footer class=\"cf-error-footer\"><span class=\"cf-fi\">Ray ID: <strong>";
    b.hole(field::ray_id, esc::html);
    b += "</strong></span><span class=\"sep\">&bull;</span><span class=\"cf-fi\">Your IP: "
         "<button type=\"button\" id=\"cf-footer-ip-reveal\">Click to reveal</button>"
         "<span id=\"cf-footer-ip\" hidden>";
    b.hole(field::client_ip, esc::html);
    b += "</span></span><span class=\"sep\">&bull;</span>"
         "<span class=\"cf-fi\">Performance &amp; security by edge522</span></footer></div>\n"
         "</div></div>\n"
         // Hidden by default (as Cloudflare does) so a screenshot of the page does not leak the IP.
         "<noscript><style>#cf-footer-ip{display:inline!important}#cf-footer-ip-reveal{display:none}"
         "</style></noscript>\n"
         "<script>(function(){var b=document.getElementById('cf-footer-ip-reveal'),"
         "i=document.getElementById('cf-footer-ip');if(b&&i)b.addEventListener('click',function(){"
         "b.hidden=true;i.hidden=false;});})();</script>\n</body>\n</html>\n";
}

// Status line and every fixed header; Content-Length and Connection follow per request.
void build_head(builder& b, failure f, body_format fmt, page_setup const& ps) {
    auto const& fi = info(f);
    b += "HTTP/1.1 " + decimal(fi.status) + " ";
    b += fi.reason;
    b += "\r\nDate: ";
    b.hole(field::http_date);
    b += "\r\nContent-Type: ";
    b += content_type(fmt);
    b += "\r\nCache-Control: private, max-age=0, no-store, no-cache, must-revalidate, post-check=0, pre-check=0"
         "\r\nExpires: Thu, 01 Jan 1970 00:00:01 GMT"
         "\r\nX-Frame-Options: SAMEORIGIN"
         "\r\nReferrer-Policy: same-origin\r\n";
    if (fi.retry_after) b += "Retry-After: " + decimal(*fi.retry_after) + "\r\n";
    // Header values without surrounding blanks (RFC 9110 5.5: OWS is not part of the value).
    b += "Server: " + std::string(trim_blank(ps.server)) + "\r\nCF-Ray: ";
    b.hole(field::ray_id_header);
    b += "\r\n";
    if (ps.diagnostics) {
        // One line: the diagnosis can quote origin-supplied text, so it is cleaned like the rest.
        b.when(cond::diagnosis);
        b += "Edge522-Diagnosis: ";
        b.hole(field::diagnosis_header);
        b += "\r\n";
        b.when(cond::always);
    }
}

page_template build_template(failure f, body_format fmt, page_setup const& ps) {
    page_template t;
    t.text.reserve(fmt == body_format::html ? 9000 : 3000);
    builder head{t, t.head}, body{t, t.body};
    build_head(head, f, fmt, ps);
    switch (fmt) {
    case body_format::html: build_html(body, f, ps); break;
    case body_format::json:
    case body_format::problem_json: build_json(body, f, ps); break;
    case body_format::markdown: build_markdown(body, f, ps); break;
    }
    t.text.shrink_to_fit();
    t.head.shrink_to_fit();
    t.body.shrink_to_fit();
    return t;
}

// ---------------------------------------------------------------------------------------------
// Filling
// ---------------------------------------------------------------------------------------------

constexpr std::string_view backticks = "````````````````````````````````````````````````````````````````";

bool applies(cond c, request_values const& v) noexcept {
    switch (c) {
    case cond::always: return true;
    case cond::host_set: return v.host_set;
    case cond::host_unset: return !v.host_set;
    case cond::diagnosis: return v.show_diag;
    }
    return true;
}

template <class Sink>
void fill(Sink& sink, page_template const& t, std::vector<segment> const& segs, request_values const& v) {
    std::string_view const text = t.text;
    for (auto const& s : segs) {
        if (!applies(s.c, v)) continue;
        switch (s.f) {
        case field::literal: sink(text.substr(s.off, s.len)); break;
        case field::host: put_value(sink, v.host, s.e, page_limits::host, ellipsis); break;
        case field::client_ip: put_value(sink, v.ip, s.e, page_limits::client_ip, ellipsis); break;
        case field::ray_id: put_value(sink, v.ray, s.e, page_limits::ray_id, ellipsis); break;
        case field::ray_id_header: put_value(sink, v.ray_line, s.e, page_limits::ray_id, ascii_ellipsis); break;
        case field::diagnosis: put_value(sink, v.diag, s.e, page_limits::diagnosis, ellipsis); break;
        case field::diagnosis_header:
            put_value(sink, v.diag, s.e, page_limits::diagnosis_header, ascii_ellipsis);
            break;
        case field::page_time: sink(std::string_view(v.time.page, sizeof v.time.page)); break;
        case field::iso_time: sink(std::string_view(v.time.iso, sizeof v.time.iso)); break;
        case field::http_date: sink(std::string_view(v.time.date, sizeof v.time.date)); break;
        case field::md_fence:
            for (std::size_t left = v.fence; left > 0;) {
                auto const k = std::min(left, backticks.size());
                sink(backticks.substr(0, k));
                left -= k;
            }
            break;
        }
    }
}

void write_response(std::string& out, page_template const& t, request_values const& v, bool keep_alive,
                    bool http10_client, bool head_only) {
    // One pass: the head, then the body, then Content-Length put in between (moving the body a few
    // dozen bytes costs less than escaping every value twice to count it first). A HEAD answer
    // takes the length of the body it does not send.
    constexpr std::size_t typical_values = 1024;  // host, address, ray id, diagnosis: else it grows once
    out.reserve(out.size() + t.text.size() + typical_values);
    appender a{out};
    fill(a, t, t.head, v);
    std::size_t const body_at = out.size();
    fill(a, t, t.body, v);
    std::size_t const body_size = out.size() - body_at;
    constexpr std::string_view length_name = "Content-Length: ";
    std::string_view const connection = !keep_alive     ? "Connection: close\r\n"
                                        : http10_client ? "Connection: keep-alive\r\n"
                                                        : "";
    char fields[96];  // the name, 20 digits at most, the Connection line, the blank line
    char* p = std::copy(length_name.begin(), length_name.end(), fields);
    p = std::to_chars(p, fields + 40, body_size).ptr;
    p = std::copy_n("\r\n", 2, p);
    p = std::copy(connection.begin(), connection.end(), p);
    p = std::copy_n("\r\n", 2, p);
    if (head_only) out.resize(body_at);
    out.insert(body_at, fields, static_cast<std::size_t>(p - fields));
}

constexpr std::size_t failure_count = static_cast<std::size_t>(failure::not_implemented) + 1;  // the last one
constexpr std::size_t format_count = 4;

page_request request_of(page_context const& ctx) noexcept {
    return page_request{ctx.what, ctx.host, ctx.ray_id, ctx.client_ip, ctx.diagnosis, ctx.when};
}

page_setup setup_of(std::string_view colo, std::string_view server_header, bool diagnostics) {
    return page_setup{cleaned(colo), cleaned(server_header), diagnostics};
}

} // namespace

namespace detail {

// All templates of one config: [failure][format].
struct page_set {
    bool diagnostics;
    std::string server_header;
    std::array<page_template, failure_count * format_count> pages;

    page_template const& at(failure f, body_format fmt) const noexcept {
        auto const i = std::min(static_cast<std::size_t>(f), failure_count - 1);
        return pages[i * format_count + static_cast<std::size_t>(fmt) % format_count];
    }
};

} // namespace detail

std::string_view content_type(body_format fmt) noexcept {
    switch (fmt) {
    case body_format::json: return "application/json; charset=utf-8";
    case body_format::problem_json: return "application/problem+json; charset=utf-8";
    case body_format::markdown: return "text/markdown; charset=utf-8";
    case body_format::html: break;
    }
    return "text/html; charset=UTF-8";
}

error_pages::error_pages(std::string_view colo, std::string_view server_header, bool diagnostics) {
    auto set = std::make_unique<detail::page_set>();
    set->diagnostics = diagnostics;
    auto const ps = setup_of(colo, server_header, diagnostics);
    set->server_header = ps.server;
    for (std::size_t i = 0; i < failure_count; ++i)
        for (std::size_t k = 0; k < format_count; ++k)
            set->pages[i * format_count + k] = build_template(static_cast<failure>(i), static_cast<body_format>(k), ps);
    set_ = std::move(set);
}

error_pages::~error_pages() = default;
error_pages::error_pages(error_pages&&) noexcept = default;
error_pages& error_pages::operator=(error_pages&&) noexcept = default;

void error_pages::write(std::string& out, page_request const& r, body_format fmt, bool keep_alive,
                        bool http10_client, bool head_only) const {
    request_values const v{r, set_->diagnostics, fmt};
    write_response(out, set_->at(r.what, fmt), v, keep_alive, http10_client, head_only);
}

void error_pages::write_body(std::string& out, page_request const& r, body_format fmt) const {
    request_values const v{r, set_->diagnostics, fmt};
    auto const& t = set_->at(r.what, fmt);
    counter size;
    fill(size, t, t.body, v);
    out.reserve(out.size() + size.n);
    appender a{out};
    fill(a, t, t.body, v);
}

void error_pages::write_plain_http_on_tls(std::string& out, std::string_view ray_id) const {
    auto const& server = set_->server_header;
    std::string body;
    body.append("<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n")
        .append("<center><h1>400 Bad Request</h1></center>\r\n")
        .append("<center>The plain HTTP request was sent to HTTPS port</center>\r\n<hr><center>")
        .append(server)
        .append("</center>\r\n</body>\r\n</html>\r\n");
    out.append("HTTP/1.1 400 Bad Request\r\nServer: ").append(server);
    out.append("\r\nDate: ").append(wire::http_date_now());
    out.append("\r\nContent-Type: text/html\r\nContent-Length: ").append(std::to_string(body.size()));
    out.append("\r\nConnection: close\r\nCF-Ray: ").append(ray_id).append("\r\n\r\n").append(body);
}

std::size_t error_pages::footprint() const noexcept {
    std::size_t n = sizeof(detail::page_set);
    for (auto const& t : set_->pages)
        n += t.text.capacity() + (t.head.capacity() + t.body.capacity()) * sizeof(segment);
    return n;
}

rendered_body render_body(page_context const& ctx, body_format fmt) {
    auto const t = build_template(ctx.what, fmt, setup_of(ctx.colo, ctx.server_header, ctx.diagnostics));
    request_values const v{request_of(ctx), ctx.diagnostics, fmt};
    rendered_body r{std::string(content_type(fmt)), {}};
    appender a{r.body};
    fill(a, t, t.body, v);
    return r;
}

http::response<http::string_body>
make_error_response(page_context const& ctx, body_format fmt, unsigned http_version, bool keep_alive) {
    auto const t = build_template(ctx.what, fmt, setup_of(ctx.colo, ctx.server_header, ctx.diagnostics));
    request_values const v{request_of(ctx), ctx.diagnostics, fmt};
    std::string wire;
    write_response(wire, t, v, keep_alive, http_version == 10, false);

    // Our own bytes, parsed back: the message is exactly what write() sends.
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(wire.size(), 1u << 20)));
    parser.body_limit(wire.size());
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(wire), ec);
    if (ec || !parser.is_done()) {
        // Cannot happen for what write_response produces; still no throw.
        http::response<http::string_body> res;
        res.result(info(ctx.what).status);
        res.reason(info(ctx.what).reason);
        res.version(http_version);
        return res;
    }
    auto res = parser.release();
    res.version(http_version);
    return res;
}

} // namespace edge522
