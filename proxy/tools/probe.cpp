#include "proxy/tools/probe.hpp"

#include "proxy/diagnosis.hpp"

#include "config/config.hpp"
#include "proxy/failure.hpp"
#include "proxy/origin_connector.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
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
constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

namespace {

struct verdict {
    unsigned code = 0;          // 200-class when reachable, else the edge's 52x/530
    bool reachable = false;
    std::string cause;
    std::string fix;
    std::string address, source;
    long dns_ms = 0, connect_ms = -1, first_byte_ms = -1;
    unsigned origin_status = 0;
};

net::awaitable<verdict> probe(probe_options const& o, config::host_port server, std::string path, bool send_get) {
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
    auto cr = co_await connect_origin(server, t, o.connect_timeout, policy);
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
    if (!send_get) {
        v.reachable = true;
        v.code = 200;
        v.cause = "TCP handshake completed";
        co_return v;
    }
    // The read deadline lives in a beast::tcp_stream: its timer state is owned by the stream's
    // pending operations, so no handler can outlive what it touches (a bare steady_timer whose
    // lambda captured this frame's locals fired into a destroyed frame when it raced the read).
    boost::beast::tcp_stream stream(std::move(*cr.stream));
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + server.host + "\r\nUser-Agent: edge522-probe\r\n"
                      "Connection: close\r\n\r\n";
    auto t0 = std::chrono::steady_clock::now();
    stream.expires_at(t0 + o.read_timeout);
    auto [wec, wn] = co_await net::async_write(stream, net::buffer(req), use_nothrow);
    boost::beast::flat_buffer buf;
    http::response_parser<http::empty_body> rp;
    rp.skip(true);
    boost::system::error_code ec = wec;
    if (!ec) {
        stream.expires_at(t0 + o.read_timeout);
        std::tie(ec, std::ignore) = co_await http::async_read_header(stream, buf, rp, use_nothrow);
    }
    bool const timed_out = ec == boost::beast::error::timeout;
    v.first_byte_ms = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    if (ec) {
        auto f = timed_out ? failure::read_timeout : classify_response_error(ec, ec != http::error::end_of_stream);
        v.code = info(f).status;
        v.cause = std::string(name(f)) + ": " +
                  describe_response(f, cr.address, ec, t, 8192, v.first_byte_ms);
        v.fix = plain_fix(f, server.host);
        co_return v;
    }
    v.reachable = true;
    v.origin_status = rp.get().result_int();
    v.code = v.origin_status;
    v.cause = "the origin answered HTTP " + std::to_string(v.origin_status);
    co_return v;
}

} // namespace

int run_probe(probe_options const& o) {
    config::host_port server;
    std::string path = "/";
    bool send_get = false;
    std::string error;
    if (o.target.starts_with("http://")) {
        auto u = boost::urls::parse_uri(o.target);
        if (!u) {
            std::cerr << "edge522 probe: bad URL " << o.target << ": " << u.error().message() << "\n";
            return 2;
        }
        server.host = std::string(u->host_address());
        if (u->host_type() == boost::urls::host_type::ipv6) server.host = u->host_ipv6_address().to_string();
        // Not port_number(): Boost.URL 1.81 wraps it modulo 65536 ("99999" -> 34463).
        unsigned long port = 80;
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
        std::cerr << "edge522 probe: only host:port and http:// URLs can be probed\n";
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
    net::co_spawn(ioc, probe(o, server, path, send_get), [&](std::exception_ptr e, verdict r) {
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
        std::cout << boost::json::serialize(j) << std::endl;
    } else {
        std::cout << "target:      " << o.target << " (" << v.address << (v.source.empty() ? "" : " from " + v.source) << ")\n"
                  << "edge answer: " << v.code << (v.reachable ? " (reachable)" : "") << "\n"
                  << "dns:         " << v.dns_ms << " ms\n"
                  << "handshake:   " << (v.connect_ms < 0 ? std::string("-") : std::to_string(v.connect_ms) + " ms") << "\n"
                  << "first byte:  " << (v.first_byte_ms < 0 ? std::string("-") : std::to_string(v.first_byte_ms) + " ms") << "\n"
                  << "cause:       " << v.cause << "\n";
        if (!v.fix.empty()) std::cout << "fix:         " << v.fix << "\n";
    }
    return v.reachable ? 0 : 1;
}

} // namespace edge522::tools
