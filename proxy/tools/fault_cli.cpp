#include "proxy/tools/fault_cli.hpp"

#include "config/config.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace edge522::tools {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

namespace {

constexpr int exit_api_error = 1;  // the API's error, or a usage error (SPEC: "1 otherwise")
constexpr int exit_unreachable = 2;

struct reply {
    bool reached = false;
    std::string error;  // why the edge could not be reached
    unsigned status = 0;
    std::string body;
};

// One request to the admin API, under one 5 s deadline for connect, write and read.
reply call(fault_cli_options const& o, http::verb method, std::string const& target, std::string body = {}) {
    reply r;
    std::string why;
    auto hp = config::parse_host_port(o.admin, why);
    if (!hp) {
        r.error = "--admin " + o.admin + ": " + why;
        return r;
    }
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1024 * 1024);
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, hp->text);
    req.set(http::field::user_agent, "edge522-fault");
    if (!o.token.empty()) req.set(http::field::authorization, "Bearer " + o.token);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.keep_alive(false);
    req.prepare_payload();

    boost::system::error_code failed;
    bool connected = false;
    stream.expires_after(std::chrono::seconds(5));
    resolver.async_resolve(hp->host, std::to_string(hp->port), [&](boost::system::error_code ec, auto results) {
        if (ec) {
            failed = ec;
            return;
        }
        stream.async_connect(results, [&](boost::system::error_code cec, auto const&) {
            if (cec) {
                failed = cec;
                return;
            }
            connected = true;
            http::async_write(stream, req, [&](boost::system::error_code wec, std::size_t) {
                if (wec) {
                    failed = wec;
                    return;
                }
                http::async_read(stream, buf, parser, [&](boost::system::error_code rec, std::size_t) { failed = rec; });
            });
        });
    });
    ioc.run();
    if (failed) {
        r.error = (connected ? "admin API at " : "cannot reach the admin API at ") + hp->text + ": " + failed.message();
        return r;
    }
    r.reached = true;
    r.status = parser.get().result_int();
    r.body = parser.get().body();
    return r;
}

// The API's {"error": "..."} (and "errors"), else the raw body.
std::string text_of(json::string const& s) { return std::string(s.data(), s.size()); }

std::string api_error(reply const& r) {
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_object())
        if (auto const* e = v.as_object().if_contains("error"); e && e->is_string())
            return std::to_string(r.status) + ": " + text_of(e->get_string());
    return std::to_string(r.status) + ": " + r.body;
}

int finish(reply const& r, unsigned expected) {
    if (!r.reached) {
        std::cerr << "edge522 fault: " << r.error << "\n";
        return exit_unreachable;
    }
    if (r.status != expected) {
        std::cerr << "edge522 fault: " << api_error(r) << "\n";
        return exit_api_error;
    }
    return 0;
}

std::string fault_line(json::object const& f) {
    auto text = [&](char const* k) -> std::string {
        auto const* v = f.if_contains(k);
        if (!v) return "";
        if (v->is_string()) return text_of(v->get_string());
        if (v->is_double()) {  // 0.25, 1: not serialize()'s 1E0
            char buf[32];
            std::snprintf(buf, sizeof buf, "%g", v->get_double());
            return buf;
        }
        return json::serialize(*v);
    };
    std::string line = "  " + text("id") + "  " + text("type") + "  (" + text("source") + ")  probability=" +
                       text("probability") + " path_prefix=" + text("path_prefix");
    if (text("delay") != "0ms" && !text("delay").empty()) line += " delay=" + text("delay");
    if (text("jitter") != "0ms" && !text("jitter").empty()) line += " jitter=" + text("jitter");
    if (auto const* s = f.if_contains("schedule"); s && s->is_object() && !s->as_object().empty())
        line += " schedule=" + json::serialize(*s);
    return line;
}

int do_list(fault_cli_options const& o) {
    auto r = call(o, http::verb::get, "/origins");
    if (int rc = finish(r, 200)) return rc;
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("origins")) {
        std::cerr << "edge522 fault: unexpected answer from the admin API\n";
        return exit_api_error;
    }
    for (auto const& ov : v.as_object().at("origins").as_array()) {
        auto const& origin = ov.as_object();
        auto const& faults = origin.at("faults").as_array();
        std::cout << text_of(origin.at("name").as_string()) << ": " << faults.size() << " fault(s)\n";
        for (auto const& f : faults) std::cout << fault_line(f.as_object()) << "\n";
    }
    return 0;
}

int do_add(fault_cli_options const& o) {
    json::object body{{"type", o.type}};
    if (o.probability) {
        if (auto const p = config::parse_decimal(*o.probability)) body["probability"] = *p;
        else body["probability"] = *o.probability;  // the API names the field in its error
    }
    if (o.delay) body["delay"] = *o.delay;
    if (o.jitter) body["jitter"] = *o.jitter;
    if (o.path) body["path_prefix"] = *o.path;
    if (o.schedule) {
        auto const comma = o.schedule->find(',');
        if (comma == std::string::npos) {
            std::cerr << "edge522 fault: --schedule: expected UP,DOWN, e.g. 30s,10s\n";
            return exit_api_error;
        }
        body["schedule"] = json::object{{"up", o.schedule->substr(0, comma)}, {"down", o.schedule->substr(comma + 1)}};
    }
    auto r = call(o, http::verb::post, "/origins/" + o.origin + "/faults", json::serialize(body));
    if (int rc = finish(r, 201)) return rc;
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_object())
        if (auto const* id = v.as_object().if_contains("id")) std::cout << "fault " << json::serialize(*id)
                                                                         << " added to " << o.origin << "\n";
    return 0;
}

} // namespace

int run_fault_cli(fault_cli_options o) {
    if (o.token.empty())
        if (char const* t = std::getenv("EDGE522_ADMIN_TOKEN")) o.token = t;
    if (o.action == "list") return do_list(o);
    if (o.action == "add") return do_add(o);
    if (o.action == "reset") return finish(call(o, http::verb::post, "/reset"), 204);
    if (o.action == "rm") {
        auto const target = "/origins/" + o.origin + "/faults" + (o.id.empty() ? "" : "/" + o.id);
        return finish(call(o, http::verb::delete_, target), 204);
    }
    std::cerr << "edge522 fault: unknown action " << o.action << "\n";
    return exit_api_error;
}

} // namespace edge522::tools
