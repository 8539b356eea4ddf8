#pragma once
// Idle keep-alive connections to origin servers, one pool per worker (no locks: only that worker's
// thread touches it). Keyed by everything that makes two connections non-interchangeable: the
// server, the egress source, the emulated firewall policy, request_ack (TCP_USER_TIMEOUT) and,
// with TLS, its settings (runtime::pool_key builds the key once per config generation).
//
// Handed out LIFO (the warmest first), closed after `origin_idle`. A parked connection is watched
// for readability from the first sweep after it was parked (within a second), as nginx and HAProxy
// watch theirs: an origin's FIN (or a stray byte, or an error) then removes it from the pool at once.
// Not before: a busy connection comes back within milliseconds, and its watch cost a speculative
// recv (EAGAIN), a reactor operation and its cancellation per request, 636 instructions and one
// syscall of ~8 (bench/RESULTS.md, round 9). A close that races the reuse, or comes before the
// watch, is caught by the exchange: a request with a body peeks at the connection first, and a
// connection found closed is replaced once, the request sent again (see client_session::forward).
//
//   put --> parked --sweep--> watched --take--> in use
//              |                 |--readable / error--> closed and removed
//              `--take--> in use `--sweep after origin_idle / clear--> closed

#include "proxy/tls.hpp"
#include "proxy/transport.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace edge522 {

class origin_pool {
public:
    using clock = std::chrono::steady_clock;

    explicit origin_pool(std::size_t max_idle_per_key = 1024) : max_idle_(max_idle_per_key) {}
    ~origin_pool() { clear(); }
    origin_pool(origin_pool const&) = delete;
    origin_pool& operator=(origin_pool const&) = delete;

    // A live idle connection for `key`, or nullopt.
    std::optional<transport> take(std::string const& key);

    // Parks `t` for reuse; closes it instead when idle_timeout is 0 or the key's list is full.
    void put(std::string const& key, transport t, std::chrono::milliseconds idle_timeout);

    // Closes connections idle for longer than their timeout; watches the others.
    void sweep();

    // Closes everything (drain).
    void clear();

    std::size_t size() const noexcept;

    // The TLS session offered to `key`'s next new connection (resumption); lives as long as the
    // pool, so a stream that keeps a pointer to it (tls::make_origin_stream) never outlives it.
    tls::session_slot* session(std::string const& key) { return &sessions_[key]; }

private:
    struct idle;
    // A key's connections. Lists stay in the map while connections may point at them (map nodes
    // are stable); only sweep() and clear() erase empty ones.
    using list = std::vector<std::shared_ptr<idle>>;
    struct idle {
        idle(transport t, list& l) : conn(std::move(t)), owner(&l) {}
        transport conn;
        list* owner;
        clock::time_point expires;
        bool watched = false;  // a read is pending on it (from the first sweep after put)
        bool gone = false;     // taken or closed: the watch's completion does nothing
        char stray;            // where a byte read while parked would go (the connection is then dropped)
    };

    static void watch(std::shared_ptr<idle> const& c);

    std::size_t max_idle_;
    std::unordered_map<std::string, tls::session_slot> sessions_;  // before idle_: destroyed after it
    std::unordered_map<std::string, list> idle_;
};

} // namespace edge522
