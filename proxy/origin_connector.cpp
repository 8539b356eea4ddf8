#include "proxy/origin_connector.hpp"

#include "proxy/address_text.hpp"
#include "proxy/drained_read.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
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

namespace {

std::chrono::milliseconds since(clock_type::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
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

// The source address the kernel would pick toward `ep`: a connected UDP socket sends nothing.
std::optional<net::ip::address> route_source(worker_executor ex, tcp::endpoint const& ep) {
    boost::system::error_code ec;
    net::ip::udp::socket probe(ex);
    probe.open(ep.address().is_v6() ? net::ip::udp::v6() : net::ip::udp::v4(), ec);
    if (!ec) probe.connect(net::ip::udp::endpoint(ep.address(), ep.port()), ec);
    if (ec) return std::nullopt;
    auto local = probe.local_endpoint(ec);
    if (ec) return std::nullopt;
    return local.address();
}

bool allowed_by(std::vector<config::cidr> const& allow, net::ip::address const& a) {
    if (a.is_v4()) {
        auto b = a.to_v4().to_bytes();
        for (auto const& c : allow) if (c.contains(b.data(), false)) return true;
        return false;
    }
    auto b = a.to_v6().to_bytes();
    for (auto const& c : allow) if (c.contains(b.data(), true)) return true;
    return false;
}

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

struct timer_deadline::state {
    explicit state(worker_executor ex) : timer(ex) {}
    worker_timer timer;
    tcp_socket* socket = nullptr;
    unsigned armed = 0;  // which start() the pending handler belongs to: a stopped one's does nothing
    bool expired = false;
};

timer_deadline::timer_deadline(worker_executor ex) : st_(std::make_shared<state>(ex)) {}

void timer_deadline::start(tcp_socket& socket, clock_type::time_point at) noexcept {
    st_->socket = &socket;
    st_->expired = false;
    st_->timer.expires_at(at);
    st_->timer.async_wait([st = st_, armed = st_->armed](boost::system::error_code ec) {
        if (ec || st->armed != armed) return;
        st->expired = true;
        boost::system::error_code cec;
        st->socket->cancel(cec);
    });
}

bool timer_deadline::stop() noexcept {
    ++st_->armed;
    st_->timer.cancel();
    return st_->expired;
}

task<bool> hold_until(worker_executor ex, connect_deadline& guard, clock_type::time_point t) {
    worker_timer timer(ex, t);
    guard.start(timer);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    guard.stop();
    co_return !ec;
}

namespace {

// The addresses a name resolves to, under `dns_timeout`, into `endpoints`; none (and r.why, r.ec,
// r.dns_time set) when it does not. Its own coroutine: a pending connect does not hold the
// resolver's state.
task<void> resolve(config::host_port const& server, std::chrono::milliseconds dns_timeout,
                   connect_result& r, std::vector<tcp::endpoint>& endpoints) {
    auto const t0 = clock_type::now();
    auto st = std::make_shared<resolve_state>(co_await net::this_coro::executor);
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
    } else if (st->ec || st->results.empty()) {
        r.why = failure::dns_failed;
        r.ec = st->ec ? st->ec : net::error::host_not_found;
    } else {
        for (auto const& e : st->results) endpoints.push_back(e.endpoint());
    }
}

// An IP literal needs no resolution (the common case: no thread hop, no allocation of a resolver).
bool literal_endpoint(config::host_port const& server, std::vector<tcp::endpoint>& endpoints) {
    // By its form: make_address tries IPv6 first, and an IPv4 literal paid for both parsers.
    boost::system::error_code ec;
    net::ip::address const addr = server.host.find(':') == std::string::npos
                                      ? net::ip::address(net::ip::make_address_v4(server.host, ec))
                                      : net::ip::address(net::ip::make_address_v6(server.host, ec));
    if (ec) return false;
    endpoints.emplace_back(addr, server.port);
    return true;
}

// What may happen on one address, decided before any SYN.
enum class attempt { connect, skip, refused, dropped, failed };

// The attempt on `ep`: the source (the egress address, or for the emulated firewall the one the
// route would pick), the firewall's verdict, and `sock` opened (and bound). Not part of the
// coroutine: a pending connect's frame holds none of this.
attempt prepare(connect_result& r, tcp_socket& sock, tcp::endpoint const& ep, connect_policy const& policy) {
    if (policy.source && policy.source->is_v6() != ep.address().is_v6()) return attempt::skip;  // family must match
    r.address = endpoint_text(ep);
    bool const firewall = policy.firewall_allow && !policy.firewall_allow->empty();
    auto source = policy.source;
    if (firewall && !source) source = route_source(sock.get_executor(), ep);
    r.source = source ? address_text(*source) : std::string{};
    if (firewall && source && !allowed_by(*policy.firewall_allow, *source)) {
        // The emulated origin firewall: no SYN leaves. REJECT answers with a reset at once;
        // DROP leaves the handshake unanswered until the deadline, exactly like a real one.
        r.firewalled = true;
        if (policy.action == config::firewall_action::reject) {
            r.ec = net::error::connection_refused;
            return attempt::refused;
        }
        return attempt::dropped;
    }
    sock.open(ep.protocol(), r.ec);
    if (!r.ec && source && policy.source) sock.bind(tcp::endpoint(*source, 0), r.ec);
    return r.ec ? attempt::failed : attempt::connect;
}

// After the last attempt (r.ec its outcome): the failure classified, or the connected socket's options.
void conclude(connect_result& r, clock_type::time_point t0, config::origin_timeouts const& timeouts) {
    r.connect_time = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0);
    if (r.ec) {
        r.stream.reset();
        r.why = classify_connect_error(r.ec);
        return;
    }
    auto& sock = *r.stream;
    boost::system::error_code oec;
    auto local = sock.local_endpoint(oec);
    if (!oec) r.source = address_text(local.address());
    sock.set_option(tcp::no_delay(true), oec);
    // A connection the pool keeps is read again: its reads say when it is drained, so the answer
    // read right after each request waits for epoll without a recv first (drained_read.hpp).
    if (timeouts.origin_idle.count() > 0) enable_drain_hint(sock.native_handle());
    if (timeouts.request_ack.count() > 0) {
        unsigned int ms = static_cast<unsigned int>(timeouts.request_ack.count());
        ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
    }
}

} // namespace

// The coroutine keeps only what a pending connect needs (its frame is held by every request pending
// on a blackholed origin): the addresses, the clock, the deadline's timer; the rest is done by the
// plain functions above.
task<void> connect_origin(connect_result& r, worker_executor ex, connect_deadline& deadline,
                          config::host_port const& server,
                          config::origin_timeouts const& timeouts, std::chrono::milliseconds dns_timeout,
                          connect_policy const& policy) {
    r = connect_result{};
    r.address = server.text;
    std::vector<tcp::endpoint> endpoints;
    if (!literal_endpoint(server, endpoints)) {
        co_await resolve(server, dns_timeout, r, endpoints);
        if (endpoints.empty()) co_return;
    }
    // One deadline covers every address a name resolves to, from the first SYN.
    auto const t0 = clock_type::now();
    r.ec = net::error::address_family_not_supported;  // if no address is of the egress family
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
        auto const a = prepare(r, r.stream.emplace(ex), endpoints[i], policy);
        if (a == attempt::skip) continue;
        if (a == attempt::dropped) {
            r.ec = unanswered(co_await hold_until(ex, deadline, t0 + timeouts.connect));
        }
        if (a != attempt::connect) break;
        deadline.start(*r.stream, t0 + timeouts.connect);
        std::tie(r.ec) = co_await r.stream->async_connect(endpoints[i], use_nothrow);
        if (deadline.stop() && r.ec) {
            r.ec = beast::error::timeout;
            break;  // the deadline is spent: no next address
        }
        if (!r.ec || r.ec == net::error::operation_aborted) break;  // connected, or cut (an abort)
    }
    conclude(r, t0, timeouts);
}

} // namespace edge522
