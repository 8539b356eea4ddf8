#pragma once
// Resolve and connect to one origin server under Cloudflare's deadlines. Where the 522 deadline
// starts: the connect deadline is armed immediately before the first SYN (after resolution, which has
// its own deadline), and one deadline covers every address a name resolves to.
// Runs as a coroutine on the worker's executor that owns the exchange.

#include "config/config.hpp"
#include "proxy/failure.hpp"
#include "proxy/transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edge522 {

// Where the connect comes from, and the origin firewall it meets (emulated: a source outside
// `firewall_allow` never sends a SYN; "drop" waits out the connect deadline, "reject" fails at once).
struct connect_policy {
    std::optional<boost::asio::ip::address> source;       // bind before connect; nullopt = kernel's choice
    std::vector<config::cidr> const* firewall_allow = nullptr;  // null or empty = no firewall
    config::firewall_action action = config::firewall_action::drop;
};

struct connect_result {
    std::optional<tcp_socket> stream;                 // set on success
    failure why = failure::connect_timeout;           // meaningful when !stream
    boost::system::error_code ec;                     // the socket-level cause
    std::chrono::milliseconds dns_time{0};
    std::chrono::microseconds connect_time{0};       // from the first SYN to success/failure
    std::string address;                              // the endpoint tried last, "127.0.0.1:3000"
    std::string source;                               // the local address used (or that would have been)
    bool firewalled = false;                          // refused/dropped by the emulated origin firewall
};

// Who cancels a connect at its deadline: connect_origin calls start() immediately before each
// SYN and stop() once that connect has completed; stop() tells whether the deadline came first
// (the connect was then cancelled). An edge's exchange lends its client session's watchdog (no
// timer of its own per pending connect), which also cuts the connect when a drain ends; tools use
// timer_deadline.
class connect_deadline {
public:
    virtual void start(tcp_socket& socket, std::chrono::steady_clock::time_point at) noexcept = 0;
    // An emulated wait instead of a SYN (a fault's blackhole or delay, an emulated firewall's
    // drop) is on `timer`, which ends it: what would cut a pending connect early cancels the timer.
    virtual void start(worker_timer& timer) noexcept = 0;
    virtual bool stop() noexcept = 0;

protected:
    ~connect_deadline() = default;
};

// A connect deadline on a timer of its own. Its state is shared with the timer's handler, so a
// handler due to run when the connect ends touches nothing of the caller's. Nothing cuts an
// emulated wait early.
class timer_deadline final : public connect_deadline {
public:
    explicit timer_deadline(worker_executor ex);
    void start(tcp_socket& socket, std::chrono::steady_clock::time_point at) noexcept override;
    void start(worker_timer&) noexcept override {}
    bool stop() noexcept override;

private:
    struct state;
    std::shared_ptr<state> st_;
};

// `timeouts.connect` bounds the handshake, `dns_timeout` the resolution. On success the socket has
// TCP_NODELAY and, when timeouts.request_ack > 0, TCP_USER_TIMEOUT = request_ack (so a request the
// origin never ACKs fails with ETIMEDOUT -> 522). The outcome goes into `r` (reset first), not
// out as a return value: that would be one more connect_result in the caller's coroutine frame for
// as long as the connect pends.
// `ex` is the executor of the new socket (the calling coroutine's worker); `deadline` enforces
// timeouts.connect.
task<void> connect_origin(connect_result& r, worker_executor ex, connect_deadline& deadline,
                          config::host_port const& server,
                          config::origin_timeouts const& timeouts,
                          std::chrono::milliseconds dns_timeout, connect_policy const& policy = {});

// Waits until `t` on `ex`, as a connect that nothing answers would (an emulated fault, an emulated
// firewall's drop, an emulated origin that holds back its answer): false when `guard` cut the wait
// first (a drain).
task<bool> hold_until(worker_executor ex, connect_deadline& guard, std::chrono::steady_clock::time_point t);

// The error of a connect that nothing answered, after hold_until() returned `held`: a timeout at
// its deadline, or operation_aborted when a drain cut the wait first.
inline boost::system::error_code unanswered(bool held) noexcept {
    return held ? make_error_code(boost::beast::error::timeout) : make_error_code(boost::asio::error::operation_aborted);
}

// "ECONNREFUSED" style name for an error code, for diagnosis lines and logs.
std::string errno_name(boost::system::error_code const& ec);

} // namespace edge522
