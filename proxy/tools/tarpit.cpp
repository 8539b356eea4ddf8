#include "proxy/tools/tarpit.hpp"

#include "config/config.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <iostream>
#include <list>

namespace edge522::tools {

namespace net = boost::asio;
using tcp = net::ip::tcp;
constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

namespace {

std::string endpoint_text(tcp::endpoint const& ep) {
    std::string out;
    auto a = ep.address();
    if (a.is_v6()) out.append("[").append(a.to_string()).append("]");
    else out.append(a.to_string());
    out.append(":").append(std::to_string(ep.port()));
    return out;
}

net::awaitable<void> swallow(tcp::socket s) {
    char buf[4096];
    for (;;) {
        auto [ec, n] = co_await s.async_read_some(net::buffer(buf), use_nothrow);
        if (ec) co_return;  // the client gave up
    }
}

net::awaitable<void> accept_silently(tcp::acceptor& a) {
    net::steady_timer backoff(a.get_executor());
    for (;;) {
        auto [ec, s] = co_await a.async_accept(use_nothrow);
        if (ec == net::error::operation_aborted || !a.is_open()) co_return;
        if (ec) {
            // EMFILE and friends: the connection stays queued; back off rather than spin.
            backoff.expires_after(std::chrono::milliseconds(100));
            co_await backoff.async_wait(use_nothrow);
            continue;
        }
        net::co_spawn(a.get_executor(), swallow(std::move(s)), [](std::exception_ptr) {});
    }
}

} // namespace

int run_tarpit(std::vector<std::string> const& listen, std::string const& mode) {
    net::io_context ioc;
    std::list<tcp::acceptor> acceptors;  // blackhole + silent
    std::list<tcp::socket> sockets;      // refuse: bound only; blackhole: the fillers
    for (auto const& text : listen) {
        std::string error;
        auto hp = config::parse_host_port(text, error);
        boost::system::error_code ec;
        auto addr = hp ? net::ip::make_address(hp->host, ec) : net::ip::address{};
        if (!hp || ec) {
            std::cerr << "edge522 tarpit: bad --listen " << text << ": " << (hp ? ec.message() : error) << "\n";
            return 2;
        }
        tcp::endpoint ep(addr, hp->port);
        tcp::endpoint bound;
        if (mode == "refuse") {
            auto& s = sockets.emplace_back(ioc);
            s.open(ep.protocol(), ec);
            if (!ec) s.bind(ep, ec);
            if (!ec) bound = s.local_endpoint(ec);
        } else {
            auto& a = acceptors.emplace_back(ioc);
            a.open(ep.protocol(), ec);
            if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
            if (!ec) a.bind(ep, ec);
            if (!ec) a.listen(mode == "blackhole" ? 0 : net::socket_base::max_listen_connections, ec);
            if (!ec) bound = a.local_endpoint(ec);
            if (!ec && mode == "blackhole") {
                // Fill the accept queue (backlog 0 holds one) with a connect that is never accepted.
                auto& filler = sockets.emplace_back(ioc);
                filler.connect(bound.address().is_unspecified()
                                   ? tcp::endpoint(bound.address().is_v6() ? net::ip::address(net::ip::address_v6::loopback())
                                                                          : net::ip::address(net::ip::address_v4::loopback()),
                                                   bound.port())
                                   : bound,
                               ec);
            }
            if (!ec && mode == "silent")
                net::co_spawn(ioc, accept_silently(a), [](std::exception_ptr) {});
        }
        if (ec) {
            std::cerr << "edge522 tarpit: cannot listen on " << text << ": " << ec.message() << "\n";
            return 2;
        }
        std::cout << "tarpit listening on " << endpoint_text(bound) << std::endl;
    }
    net::signal_set signals(ioc);
    boost::system::error_code sec;
    signals.add(SIGINT, sec);
    if (!sec) signals.add(SIGTERM, sec);
    if (sec) {
        std::cerr << "edge522 tarpit: cannot handle SIGINT/SIGTERM: " << sec.message() << "\n";
        return 2;
    }
    signals.async_wait([&](boost::system::error_code, int) {
        boost::system::error_code ec;
        for (auto& a : acceptors) a.close(ec);
        for (auto& s : sockets) s.close(ec);
        ioc.stop();  // a test tool: its silent connections are dropped, not drained
    });
    ioc.run();
    return 0;
}

} // namespace edge522::tools
