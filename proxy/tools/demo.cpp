#include "proxy/tools/demo.hpp"

#include "config/config.hpp"
#include "proxy/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <iostream>
#include <thread>

namespace edge522::tools {

namespace net = boost::asio;
using tcp = net::ip::tcp;
constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

namespace {

enum class kind { ok, slow, broken };

// Reads one request head (enough for curl and browsers), then answers as its kind.
net::awaitable<void> serve(tcp::socket s, kind k) {
    std::string buf;
    char tmp[4096];
    for (;;) {
        while (buf.find("\r\n\r\n") == std::string::npos) {
            auto [ec, n] = co_await s.async_read_some(net::buffer(tmp), use_nothrow);
            if (ec) co_return;
            buf.append(tmp, n);
        }
        buf.erase(0, buf.find("\r\n\r\n") + 4);
        std::string out;
        if (k == kind::broken) {
            out = "this is not HTTP\r\n\r\n";
        } else {
            if (k == kind::slow) {
                net::steady_timer t(s.get_executor(), std::chrono::seconds(60));
                co_await t.async_wait(use_nothrow);
            }
            std::string body = "Hello from the demo origin. The request the edge forwarded carried "
                               "CF-Ray, CF-Connecting-IP, X-Forwarded-For and friends.\n";
            out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\n\r\n" + body;
        }
        auto [wec, wn] = co_await net::async_write(s, net::buffer(out), use_nothrow);
        if (wec || k == kind::broken) co_return;
    }
}

net::awaitable<void> accept_loop(tcp::acceptor& a, kind k) {
    net::steady_timer backoff(a.get_executor());
    for (;;) {
        auto [ec, s] = co_await a.async_accept(use_nothrow);
        if (ec == net::error::operation_aborted || !a.is_open()) co_return;
        if (ec) {
            // EMFILE and friends: back off rather than spin.
            backoff.expires_after(std::chrono::milliseconds(100));
            co_await backoff.async_wait(use_nothrow);
            continue;
        }
        net::co_spawn(a.get_executor(), serve(std::move(s), k), [](std::exception_ptr) {});
    }
}

std::string port_of(tcp::endpoint const& ep) { return std::to_string(ep.port()); }

} // namespace

int run_demo(std::string const& listen) {
    std::string error;
    auto hp = config::parse_host_port(listen, error);
    if (!hp) {
        std::cerr << "edge522 demo: bad --listen " << listen << ": " << error << "\n";
        return 2;
    }
    // The demo origins, on loopback ports the kernel picks. Every step has its error_code: a
    // failure is one message and exit 2, never an exception.
    net::io_context origins;
    auto const loopback = net::ip::address(net::ip::address_v4::loopback());
    boost::system::error_code ec;
    auto make = [&](tcp::acceptor& a, int backlog) {
        if (!ec) a.open(tcp::v4(), ec);
        if (!ec) a.bind({loopback, 0}, ec);
        if (!ec) a.listen(backlog, ec);
    };
    tcp::acceptor ok(origins), slow(origins), broken(origins), blackhole(origins);
    make(ok, 128);
    make(slow, 128);
    make(broken, 128);
    make(blackhole, 0);
    tcp::socket filler(origins);  // fills the blackhole's accept queue: further SYNs are dropped
    tcp::endpoint blackhole_ep;
    if (!ec) blackhole_ep = blackhole.local_endpoint(ec);
    if (!ec) filler.connect(blackhole_ep, ec);
    tcp::socket down(origins);    // bound, never listening: RST
    if (!ec) down.open(tcp::v4(), ec);
    if (!ec) down.bind({loopback, 0}, ec);
    auto port = [&](auto const& s) {
        tcp::endpoint e;
        if (!ec) e = s.local_endpoint(ec);
        return port_of(e);
    };
    std::string const ok_port = port(ok), down_port = port(down), timeout_port = port(blackhole),
                      slow_port = port(slow), broken_port = port(broken);
    if (ec) {
        std::cerr << "edge522 demo: cannot set up the demo origins on 127.0.0.1: " << ec.message() << "\n";
        return 2;
    }
    net::co_spawn(origins, accept_loop(ok, kind::ok), [](std::exception_ptr) {});
    net::co_spawn(origins, accept_loop(slow, kind::slow), [](std::exception_ptr) {});
    net::co_spawn(origins, accept_loop(broken, kind::broken), [](std::exception_ptr) {});
    std::thread origin_thread([&] { origins.run(); });

    std::string toml = "[edge]\nlisten = [\"" + hp->text + "\"]\nthreads = 1\n[admin]\nlisten = \"\"\n"
                       "[timeouts]\nconnect = \"3s\"\nread = \"5s\"\n";
    auto origin = [&](std::string const& name, std::string const& port) {
        toml += "[[origins]]\nname = \"" + name + "\"\nhosts = [\"" + name + ".localhost\"]\nservers = [\"127.0.0.1:" +
                port + "\"]\nfailover = false\n";
    };
    origin("ok", ok_port);
    origin("down", down_port);
    origin("timeout", timeout_port);
    origin("slow", slow_port);
    origin("broken", broken_port);
    auto r = config::load_string(toml, "<demo>");
    if (!r.errors.empty()) {
        for (auto const& e : r.errors) std::cerr << e.to_string() << "\n";
        origins.stop();
        origin_thread.join();
        return 2;
    }
    std::string const base = "http://" + hp->text;
    std::cout << "edge522 demo: the edge on " << base << " (connect deadline 3s, read timeout 5s; "
              << "Cloudflare's are 19s and 125s)\n";
    struct row { char const* host; char const* what; };
    for (auto [host, what] : {row{"ok", "200: the origin answers"}, row{"down", "521: the origin refuses"},
                              row{"timeout", "522: the handshake never completes (after 3s)"},
                              row{"slow", "524: connected, no answer (after 5s)"},
                              row{"broken", "520: the origin answers garbage"}}) {
        std::cout << "  " << what << "\n    curl -i -H 'Host: " << host << ".localhost' " << base << "/\n    "
                  << "http://" << host << ".localhost:" << hp->port << "/\n";
    }
    std::cout << "Ctrl-C to stop." << std::endl;
    server s(r.cfg, "");
    int rc = s.run();
    origins.stop();
    origin_thread.join();
    return rc;
}

} // namespace edge522::tools
