#pragma once
// One client connection, from accept to close, on its worker's thread. It reads a request head,
// routes it by Host, and either answers itself (error pages, /cdn-cgi/error/CODE) or runs one
// exchange with an origin: connect (pool or new, with failover), stream the request body, read the
// response head, stream the response body back. Requests on a connection are answered in order.
//
// Lifetime: the run() and watchdog() coroutines each hold a shared_ptr; the session dies when
// both end. Every timeout after the connect, toward the client and toward the origin, is one
// watchdog timer with named phases (RESTinio style): arming a later deadline only moves a number,
// the timer itself is re-armed only when a deadline comes earlier, and an expiry cancels the
// socket of its phase. The connect has its own deadline (origin_connector).
//
//   idle --bytes--> head --parsed--> [origin exchange] --> write --> idle (keep-alive) | closed
//   idle: client_idle (client_header for the first request)   head: client_header -> 408
//   body: client_header between body reads                      write: write -> closed
//   origin_write: write -> 524 (or 522 via TCP_USER_TIMEOUT)     origin_read: read -> 524

#include "proxy/failure.hpp"
#include "proxy/worker.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace edge522 {

class client_session : public std::enable_shared_from_this<client_session> {
public:
    using clock = std::chrono::steady_clock;

    client_session(worker& w, boost::asio::ip::tcp::socket socket);
    ~client_session();

    void start();
    // From the worker when draining: an idle connection is closed at once; a busy one finishes its
    // exchange and then closes.
    void drain();

private:
    enum class phase { none, idle, head, body, write, origin_write, origin_read };
    using request_parser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;
    struct exchange;  // per-request state for the access log and diagnosis

    boost::asio::awaitable<void> run(std::shared_ptr<client_session> self);
    boost::asio::awaitable<void> watchdog(std::shared_ptr<client_session> self);

    boost::asio::awaitable<bool> forward(config::origin const& o, request_parser& parser, exchange& x,
                                         bool keep_alive);
    boost::asio::awaitable<bool> send_error(failure f, exchange& x, bool keep_alive);
    boost::asio::awaitable<void> tunnel(boost::asio::ip::tcp::socket& origin, boost::beast::flat_buffer& origin_buffer);
    // An operation the watchdog cancelled in phase `p` reports beast::error::timeout.
    boost::system::error_code timed_out_as(boost::system::error_code ec, phase p) noexcept;

    void arm(phase p, clock::time_point deadline);
    void disarm() noexcept { phase_ = phase::none; }

    worker& worker_;
    boost::asio::ip::tcp::socket socket_;
    boost::beast::flat_buffer buffer_;
    boost::asio::steady_timer timer_;
    clock::time_point accepted_at_;
    clock::time_point deadline_ = clock::time_point::max();
    phase phase_ = phase::none;
    phase expired_ = phase::none;
    bool idle_ = false;
    bool closed_ = false;
    boost::asio::ip::tcp::socket* origin_ = nullptr;  // the origin socket of the exchange in flight
    std::string client_ip_;
    boost::asio::ip::address client_addr_;  // for access rules (IPv4-mapped IPv6 shown as IPv4)
    std::string wire_;  // the outgoing head being written; reused across requests
};

} // namespace edge522
