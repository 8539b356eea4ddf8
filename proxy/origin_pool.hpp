#pragma once
// Idle keep-alive connections to origin servers, one pool per worker (no locks: only that worker's
// thread touches it). Keyed by the server as written in the config ("127.0.0.1:3000").
// A connection is handed out LIFO (the warmest first) and closed after `origin_idle`. One parked
// for over a second is first checked for a close by the origin (a MSG_PEEK: one syscall, skipped on
// the hot path where connections come back within milliseconds; a close that races the reuse is
// caught by the exchange, which retries a body-less request on a new connection). A periodic sweep (owned by the worker) releases the fds
// of expired ones.

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace edge522 {

class origin_pool {
public:
    using clock = std::chrono::steady_clock;
    using socket = boost::asio::ip::tcp::socket;

    explicit origin_pool(std::size_t max_idle_per_server = 1024) : max_idle_(max_idle_per_server) {}

    // A live idle connection to `server`, or nullopt. Expired or origin-closed ones are dropped.
    std::optional<socket> take(std::string const& server);

    // Parks `s` for reuse; closes it instead when idle_timeout is 0 or the pool is full.
    void put(std::string const& server, socket s, std::chrono::milliseconds idle_timeout);

    // Closes connections idle for longer than their timeout.
    void sweep();

    // Closes everything (drain).
    void clear();

    std::size_t size() const noexcept;

private:
    struct idle {
        socket sock;
        clock::time_point parked;
        clock::time_point expires;
    };
    static bool still_open(socket& s) noexcept;

    std::size_t max_idle_;
    std::unordered_map<std::string, std::vector<idle>> idle_;
};

} // namespace edge522
