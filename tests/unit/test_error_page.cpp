#include "proxy/error_page.hpp"

#include <catch2/catch.hpp>

#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
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
    failure::request_timeout, failure::header_too_large, failure::not_implemented,
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
