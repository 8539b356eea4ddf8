#include "proxy/tools/probe.hpp"

#include "proxy/diagnosis.hpp"

#include "config/config.hpp"
#include "proxy/failure.hpp"
#include "proxy/http_io.hpp"
#include "proxy/origin_connector.hpp"
#include "proxy/tls.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <iostream>

namespace edge522::tools {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

struct verdict {
    unsigned code = 0;          // 200-class when reachable, else the edge's 52x/530
    bool reachable = false;
    std::string cause;
    std::string fix;
    std::string address, source;
    long dns_ms = 0, connect_ms = -1, first_byte_ms = -1, tls_ms = -1;
    unsigned origin_status = 0;
    std::optional<tls::handshake_result> tls;  // HTTPS targets: what the handshake showed
};

// The GET of a URL probe and its response head, under the read deadline, over either transport.
task<void> get_head(probe_options const& o, transport& conn, config::host_port const& server,
                              std::string const& path, config::origin_timeouts const& t, verdict& v) {
    using namespace net::experimental::awaitable_operators;
    std::string const req = "GET " + path + " HTTP/1.1\r\nHost: " + server.host +
                            "\r\nUser-Agent: edge522-probe\r\nConnection: close\r\n\r\n";
    auto const t0 = std::chrono::steady_clock::now();
    boost::beast::flat_buffer buf;
    response_parser rp;
    auto exchange = [&]() -> task<boost::system::error_code> {
        auto [wec, wn] = co_await net::async_write(conn, net::buffer(req), use_nothrow);
        if (wec) co_return wec;
        auto r = co_await read_head(conn, buf, rp, 64 * 1024);
        if (r.status == head_status::ok) co_return boost::system::error_code{};
        if (r.status == head_status::closed) co_return http::error::end_of_stream;
        if (r.status != head_status::error) co_return http::error::header_limit;
        co_return r.ec;
    };
    net::steady_timer timer(conn.get_executor(), t0 + o.read_timeout);
    auto raced = co_await (exchange() || timer.async_wait(use_nothrow));
    boost::system::error_code const ec = raced.index() == 0 ? std::get<0>(raced) : boost::beast::error::timeout;
    v.first_byte_ms = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    if (ec) {
        auto f = ec == boost::beast::error::timeout ? failure::read_timeout
                                                     : classify_response_error(ec, ec != http::error::end_of_stream);
        v.code = info(f).status;
        v.cause = std::string(name(f)) + ": " + describe_response(f, v.address, ec, t, 64 * 1024, v.first_byte_ms);
        v.fix = plain_fix(f, server.host);
        co_return;
    }
    v.reachable = true;
    v.origin_status = rp.get().result_int();
    v.code = v.origin_status;
    v.cause = "the origin answered HTTP " + std::to_string(v.origin_status);
}

task<verdict> probe(worker_executor ex, probe_options const& o, config::host_port server,
                              std::string path, bool send_get, bool https) {
    verdict v;
    config::origin_timeouts t;
    t.connect = o.connect_timeout;
    t.read = o.read_timeout;
    t.request_ack = std::chrono::milliseconds(0);
    connect_policy policy;
    if (!o.from.empty()) {
        boost::system::error_code aec;
        policy.source = net::ip::make_address(o.from, aec);  // checked by run_probe
        if (aec) policy.source.reset();
    }
    connect_result cr;
    timer_deadline deadline(ex);
    co_await connect_origin(cr, ex, deadline, server, t, o.connect_timeout, policy);
    v.address = cr.address;
    v.source = cr.source;
    v.dns_ms = static_cast<long>(cr.dns_time.count());
    if (!cr.stream) {
        auto const& i = info(cr.why);
        v.code = i.status;
        v.cause = std::string(name(cr.why)) + ": " + describe_connect(cr, t);
        v.connect_ms = static_cast<long>(cr.connect_time.count() / 1000);
        v.fix = plain_fix(cr.why, server.host);
        co_return v;
    }
    v.connect_ms = static_cast<long>(cr.connect_time.count() / 1000);
    if (!https) {
        if (!send_get) {
            v.reachable = true;
            v.code = 200;
            v.cause = "TCP handshake completed";
            co_return v;
        }
        transport conn(std::move(*cr.stream));
        co_await get_head(o, conn, server, path, t, v);
        co_return v;
    }
    // HTTPS: the handshake as the edge would make it (SNI, ALPN), with strict's verdict always
    // worked out; --tls-verify decides whether it is a 526.
    config::origin spec;
    spec.tls = true;
    spec.verify = o.tls_verify;
    spec.tls_sni = o.sni;
    spec.tls_ca = o.tls_ca;
    std::string error;
    auto ctx = tls::origin_context::build(spec, error, true);
    if (!ctx) {
        v.code = info(failure::tls_handshake_failed).status;
        v.cause = error;
        co_return v;
    }
    transport conn(tls::make_origin_stream(std::move(*cr.stream), *ctx, server.host, nullptr));
    auto hs = co_await tls::handshake_origin(*conn.tls(), *ctx, o.tls_timeout);
    v.tls = hs;
    v.tls_ms = static_cast<long>(hs.time.count() / 1000);
    auto const sni = o.sni.empty() ? server.host : o.sni;
    if (hs.ok && hs.verify_cause != tls::cause::none && o.tls_verify == config::tls_verify::strict)
        hs = tls::as_invalid_certificate(hs);
    if (!hs.ok) {
        v.code = info(hs.why).status;
        v.cause = std::string(name(hs.why)) + ": " + describe_tls(hs, cr.address, sni, o.tls_timeout);
        v.fix = plain_fix(hs.why, server.host);
        co_return v;
    }
    if (!send_get) {
        v.reachable = true;
        v.code = 200;
        v.cause = "TCP and TLS handshakes completed";
        co_return v;
    }
    co_await get_head(o, conn, server, path, t, v);
    co_return v;
}

} // namespace

int run_probe(probe_options const& o) {
    config::host_port server;
    std::string path = "/";
    bool send_get = false;
    bool const https = o.target.starts_with("https://") || o.https;
    std::string error;
    if (o.target.starts_with("http://") || o.target.starts_with("https://")) {
        auto u = boost::urls::parse_uri(o.target);
        if (!u) {
            std::cerr << "edge522 probe: bad URL " << o.target << ": " << u.error().message() << "\n";
            return 2;
        }
        server.host = std::string(u->host_address());
        if (u->host_type() == boost::urls::host_type::ipv6) server.host = u->host_ipv6_address().to_string();
        // Not port_number(): Boost.URL 1.81 wraps it modulo 65536 ("99999" -> 34463).
        unsigned long port = o.target.starts_with("https://") ? 443 : 80;
        if (u->has_port() && !u->port().empty()) {  // "http://host:/" is the default port (RFC 3986 3.2.3)
            auto const text = std::string(u->port());
            port = text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos
                       ? 0
                       : std::stoul(text);  // at most 5 digits: cannot throw
        }
        server.port = port <= 65535 ? static_cast<std::uint16_t>(port) : 0;
        if (server.host.empty() || server.port == 0) {
            std::cerr << "edge522 probe: bad URL " << o.target << ": needs a host and a port 1..65535\n";
            return 2;
        }
        server.text = server.host + ":" + std::to_string(server.port);
        path = u->encoded_resource().empty() ? "/" : std::string(u->encoded_resource());
        send_get = true;
    } else if (o.target.find("://") != std::string::npos) {
        std::cerr << "edge522 probe: only host:port, http:// and https:// URLs can be probed\n";
        return 2;
    } else if (auto hp = config::parse_host_port(o.target, error)) {
        server = *hp;
    } else {
        std::cerr << "edge522 probe: bad target " << o.target << ": " << error << "\n";
        return 2;
    }
    if (!o.from.empty()) {
        boost::system::error_code aec;
        net::ip::make_address(o.from, aec);
        if (aec) {
            std::cerr << "edge522 probe: bad --from " << o.from << "\n";
            return 2;
        }
    }
    net::io_context ioc;
    verdict v;
    std::exception_ptr failed;
    net::co_spawn(ioc, probe(ioc.get_executor(), o, server, path, send_get, https), [&](std::exception_ptr e, verdict r) {
        failed = e;
        v = std::move(r);
    });
    ioc.run();
    if (failed) {
        try {
            std::rethrow_exception(failed);
        } catch (std::exception const& ex) {
            std::cerr << "edge522 probe: failed: " << ex.what() << "\n";
        } catch (...) {
            std::cerr << "edge522 probe: failed\n";
        }
        return 2;
    }
    if (o.json) {
        boost::json::object j{{"target", o.target}, {"code", v.code}, {"reachable", v.reachable},
                              {"cause", v.cause}, {"fix", v.fix}, {"address", v.address},
                              {"source", v.source}, {"dns_ms", v.dns_ms}, {"connect_ms", v.connect_ms},
                              {"first_byte_ms", v.first_byte_ms}};
        if (v.tls) {
            boost::json::object tj{{"handshake_ms", v.tls_ms},
                                   {"version", v.tls->version},
                                   {"cipher", v.tls->cipher},
                                   {"resumed", v.tls->resumed},
                                   {"verify", v.tls->verify_cause == tls::cause::none ? std::string("ok") : v.tls->verify_error}};
            if (v.tls->peer) {
                tj["subject"] = v.tls->peer->subject;
                tj["issuer"] = v.tls->peer->issuer;
                tj["not_after"] = v.tls->peer->not_after;
                tj["names"] = v.tls->peer->names;
            }
            j["tls"] = std::move(tj);
        }
        std::cout << boost::json::serialize(j) << std::endl;
    } else {
        std::cout << "target:      " << o.target << " (" << v.address << (v.source.empty() ? "" : " from " + v.source) << ")\n"
                  << "edge answer: " << v.code << (v.reachable ? " (reachable)" : "") << "\n"
                  << "dns:         " << v.dns_ms << " ms\n"
                  << "handshake:   " << (v.connect_ms < 0 ? std::string("-") : std::to_string(v.connect_ms) + " ms") << "\n"
                  << (v.tls ? "tls:         " + (v.tls->ok ? v.tls->version + " " + v.tls->cipher + ", " + std::to_string(v.tls_ms) + " ms"
                                                            : std::string("failed after ") + std::to_string(v.tls_ms) + " ms") + "\n"
                            : std::string())
                  << (v.tls && v.tls->peer ? "certificate: " + v.tls->peer->subject + ", issuer " + v.tls->peer->issuer +
                                                 ", expires " + v.tls->peer->not_after +
                                                 (v.tls->peer->names.empty() ? std::string() : ", names " + v.tls->peer->names) + "\n"
                                           : std::string())
                  << (v.tls && v.tls->peer ? "verify:      " + (v.tls->verify_cause == tls::cause::none ? std::string("OK (strict would accept it)")
                                                                  : v.tls->verify_error + " (tls_verify = \"strict\" answers 526)") + "\n"
                                           : std::string())
                  << "first byte:  " << (v.first_byte_ms < 0 ? std::string("-") : std::to_string(v.first_byte_ms) + " ms") << "\n"
                  << "cause:       " << v.cause << "\n";
        if (!v.fix.empty()) std::cout << "fix:         " << v.fix << "\n";
    }
    return v.reachable ? 0 : 1;
}

} // namespace edge522::tools
