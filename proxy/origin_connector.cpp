#include "proxy/origin_connector.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cstring>
#include <memory>

namespace edge522 {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

namespace {

std::chrono::milliseconds since(clock_type::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
}

std::string endpoint_text(tcp::endpoint const& ep) {
    // Appends, not operator+ chains: GCC 12 -O2 warns falsely (-Wrestrict) on those.
    std::string out;
    auto a = ep.address();
    if (a.is_v6()) out.append("[").append(a.to_string()).append("]");
    else out.append(a.to_string());
    out.append(":").append(std::to_string(ep.port()));
    return out;
}

// getaddrinfo runs on asio's private resolver thread and cannot be interrupted, so the deadline is
// a timer the coroutine waits on; a late resolution completes into the shared state and is dropped.
struct resolve_state {
    explicit resolve_state(net::any_io_executor ex) : resolver(ex), timer(ex) {}
    tcp::resolver resolver;
    net::steady_timer timer;
    tcp::resolver::results_type results;
    boost::system::error_code ec;
    bool done = false;
};

} // namespace

std::string errno_name(boost::system::error_code const& ec) {
    if (ec == beast::error::timeout) return "ETIMEDOUT (deadline)";
    if (ec.category() == boost::system::system_category()) {
        switch (ec.value()) {
        case ECONNREFUSED: return "ECONNREFUSED";
        case ECONNRESET: return "ECONNRESET";
        case ETIMEDOUT: return "ETIMEDOUT";
        case EHOSTUNREACH: return "EHOSTUNREACH";
        case ENETUNREACH: return "ENETUNREACH";
        case EPIPE: return "EPIPE";
        case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
        case EACCES: return "EACCES";
        case EPERM: return "EPERM";
        default: break;
        }
    }
    return ec.message();
}

net::awaitable<connect_result> connect_origin(config::host_port const& server,
                                              config::origin_timeouts const& timeouts,
                                              std::chrono::milliseconds dns_timeout) {
    auto ex = co_await net::this_coro::executor;
    connect_result r;
    r.address = server.text;

    // An IP literal needs no resolution (the common case: no thread hop, no allocation).
    boost::system::error_code aec;
    auto addr = net::ip::make_address(server.host, aec);
    std::vector<tcp::endpoint> endpoints;
    if (!aec) {
        endpoints.emplace_back(addr, server.port);
    } else {
        auto t0 = clock_type::now();
        auto st = std::make_shared<resolve_state>(ex);
        st->timer.expires_after(dns_timeout);
        st->resolver.async_resolve(server.host, std::to_string(server.port),
            [st](boost::system::error_code ec, tcp::resolver::results_type res) {
                if (st->done) return;
                st->done = true;
                st->ec = ec;
                st->results = std::move(res);
                st->timer.cancel();
            });
        co_await st->timer.async_wait(use_nothrow);
        r.dns_time = since(t0);
        if (!st->done) {
            st->done = true;  // a late answer is dropped
            st->resolver.cancel();
            r.why = failure::dns_failed;
            r.ec = net::error::timed_out;
            co_return r;
        }
        if (st->ec || st->results.empty()) {
            r.why = failure::dns_failed;
            r.ec = st->ec ? st->ec : net::error::host_not_found;
            co_return r;
        }
        for (auto const& e : st->results) endpoints.push_back(e.endpoint());
    }

    beast::tcp_stream stream(ex);
    auto t0 = clock_type::now();
    stream.expires_after(timeouts.connect);
    auto [ec, ep] = co_await stream.async_connect(endpoints, use_nothrow);
    r.connect_time = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0);
    if (ec) {
        r.why = classify_connect_error(ec);
        r.ec = ec;
        // async_connect(range) reports the last endpoint only on success; name the last tried.
        r.address = endpoints.size() == 1 ? endpoint_text(endpoints.front()) : server.text;
        co_return r;
    }
    r.address = endpoint_text(ep);
    stream.expires_never();

    auto sock = stream.release_socket();
    boost::system::error_code oec;
    sock.set_option(tcp::no_delay(true), oec);
    if (timeouts.request_ack.count() > 0) {
        unsigned int ms = static_cast<unsigned int>(timeouts.request_ack.count());
        ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
    }
    r.stream.emplace(std::move(sock));
    co_return r;
}

} // namespace edge522
