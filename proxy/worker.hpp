#pragma once
// One worker = one thread = one io_context. It owns its acceptors (SO_REUSEPORT on the shared
// listen addresses), its idle origin pool, its ray-id generator and the sessions it accepted:
// a connection stays on its worker for its whole life, so nothing on the per-request path is
// shared or locked. Config generations arrive by post() and are swapped between requests.
//
//   running --drain()--> draining (acceptors closed, idle sessions closed, in-flight finish)
//           --> io_context runs out of work --> thread ends

#include "config/config.hpp"
#include "proxy/access.hpp"
#include "proxy/error_page.hpp"
#include "proxy/metrics.hpp"
#include "proxy/origin_pool.hpp"
#include "proxy/ray_id.hpp"
#include "proxy/router.hpp"
#include "proxy/tls.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edge522 {

class client_session;
using clock_type = std::chrono::steady_clock;

// The heap's levers a worker pulls on its own thread: glibc's unless main() installs those of the
// binary's allocator (mimalloc).
struct heap_levers {
    void (*trim)() noexcept;                // hand free memory back to the kernel (malloc_trim); null: nothing to do
    // While on, what is freed goes back to the kernel at once. Process-wide (mimalloc's option):
    // with several workers one may turn it off while another's parked connections free theirs,
    // which then go back at the allocator's own pace.
    void (*eager_return)(bool on) noexcept;
};
extern heap_levers heap;

// A session's place in its worker's list: two pointers in the session, no node allocated.
using session_hook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>>;

// One config generation, immutable, shared read-only by every worker: the config and what is
// derived from it once (routes, access tries, egress addresses).
struct runtime {
    // `server_tls`: the HTTPS listeners' certificates (null without listen_tls); `origin_tls`: by
    // origin index, null for plain-HTTP origins. Built by the caller on the control path, where a
    // file that does not load is an error (tls.hpp).
    runtime(std::shared_ptr<config::config const> c, std::shared_ptr<tls::server_contexts> server_tls = nullptr,
            std::vector<std::shared_ptr<tls::origin_context>> origin_tls = {});

    std::shared_ptr<config::config const> cfg;
    router routes;
    access_matcher access;                                // [access]
    std::vector<std::optional<access_matcher>> origin_access;    // by origin index; nullopt = inherit
    std::vector<std::vector<boost::asio::ip::address>> egress;  // by origin index; empty = kernel's choice
    // Origin pool keys by origin index, then [server index * max(1, egress count) + egress index]:
    // everything that makes two connections non-interchangeable (see origin_pool).
    std::vector<std::vector<std::string>> pool_keys;
    error_pages pages;  // every error page, formatted once for this generation
    std::shared_ptr<tls::server_contexts> server_tls;
    std::vector<std::shared_ptr<tls::origin_context>> origin_tls;
    // The shortest timeout a client session's phase can be armed with (client_header, write, the
    // origins' read and write; zeros, which turn a timeout off, left out): how far ahead a
    // session's watchdog sleeps at most (client_session::watch()).
    std::chrono::steady_clock::duration watchdog_step;

    tls::origin_context* tls_for(config::origin const& o) const noexcept {
        auto const i = index_of(o);
        return i < origin_tls.size() ? origin_tls[i].get() : nullptr;
    }

    std::string const& pool_key(config::origin const& o, std::size_t server, std::size_t egress_index) const noexcept {
        auto const i = index_of(o);
        auto const n = std::max<std::size_t>(1, egress[i].size());
        return pool_keys[i][server * n + egress_index];
    }

    std::size_t index_of(config::origin const& o) const noexcept {
        return static_cast<std::size_t>(&o - cfg->origins.data());
    }
    // The rules for a request: its origin's own table, else [access] (also when no origin matched).
    access_matcher const& access_for(config::origin const* o) const noexcept {
        if (o)
            if (auto const& m = origin_access[index_of(*o)]) return *m;
        return access;
    }
};

class worker {
public:
    // `open_connections` is the process-wide count of client connections (for max_connections),
    // touched once per accept and once per close, never per request.
    worker(unsigned index, std::shared_ptr<runtime const> rt, std::atomic<std::uint64_t>& open_connections);
    ~worker();
    worker(worker const&) = delete;
    worker& operator=(worker const&) = delete;

    boost::asio::io_context& context() noexcept { return ioc_; }
    unsigned index() const noexcept { return index_; }

    // Called before run(), from the server's thread: a bound, listening acceptor on this context;
    // `tls`: its clients speak HTTPS.
    void add_acceptor(boost::asio::ip::tcp::acceptor a, bool tls = false);

    // The thread body: starts the accept loops and the pool sweep, runs until out of work.
    void run();

    // Thread-safe (they post to the worker).
    void drain();
    void update(std::shared_ptr<runtime const> rt);
    void force_stop();

    // For sessions, on this worker's thread only.
    std::shared_ptr<runtime const> const& current() const noexcept { return rt_; }
    origin_pool& pool() noexcept { return pool_; }
    worker_metrics& metrics() noexcept { return metrics_; }
    ray_id_generator& rays() noexcept { return rays_; }
    bool draining() const noexcept { return draining_; }

    // The egress address index of an origin for the next request, rotated per request (not per
    // connect attempt, so a failover retry does not move every request's first attempt onto the same
    // source); 0 when the origin has no egress list (the kernel's choice). `rt` is the generation
    // the request started with (a reload may have swapped rt_ since).
    std::size_t next_egress(runtime const& rt, config::origin const& o) {
        auto const i = rt.index_of(o);
        auto const n = rt.egress[i].size();
        if (n == 0) return 0;
        if (egress_next_.size() <= i) egress_next_.resize(i + 1, 0);
        return egress_next_[i]++ % n;
    }

    // Body relay buffers: a bounded free list, so exchanges with bodies do not malloc 64 KiB each.
    static constexpr std::size_t relay_buffer_size = 64 * 1024;
    std::unique_ptr<char[]> take_relay_buffer() {
        if (free_relay_.empty()) return std::unique_ptr<char[]>(new char[relay_buffer_size]);
        auto p = std::move(free_relay_.back());
        free_relay_.pop_back();
        return p;
    }
    void give_relay_buffer(std::unique_ptr<char[]> p) {
        if (free_relay_.size() < 64) free_relay_.push_back(std::move(p));
    }
    void add_session(session_hook& s) noexcept { sessions_.push_back(s); }
    void remove_session(session_hook& s) noexcept;


    // Thread-safe: runs `f(copy of this worker's metrics)` on the worker's thread.
    template <class F>
    void with_metrics(F f) {
        boost::asio::post(ioc_, [this, f = std::move(f)]() mutable {
            worker_metrics copy = metrics_;
            copy.connections_active = sessions_.size();
            f(std::move(copy));
        });
    }

private:
    void do_sweep();
    struct listener {
        boost::asio::ip::tcp::acceptor acceptor;
        bool tls = false;
    };
    friend task<void> accept_loop(worker& w, listener& l);
    // An accepted connection becomes a session, unless the worker drains or is at max_connections.
    void admit(tcp_socket socket, boost::asio::ip::tcp::endpoint const& peer, bool tls);

    unsigned index_;
    // What sessions touch as they are destroyed comes before ioc_: a forced stop destroys the
    // sessions' coroutine frames only when ioc_ itself is destroyed.
    std::shared_ptr<runtime const> rt_;
    worker_metrics metrics_;
    ray_id_generator rays_;
    bool draining_ = false;
    boost::intrusive::list<session_hook> sessions_;  // client_sessions, in accept order
    std::vector<client_session*> sessions();  // a copy: a session told something may end
    std::vector<std::unique_ptr<char[]>> free_relay_;
    std::vector<std::size_t> egress_next_;
    unsigned sweeps_ = 0;
    std::atomic<std::uint64_t>& open_connections_;
    clock_type::time_point last_limit_warning_{};
    // Only this thread touches its sockets and timers; other threads only post(): reactor locking off.
    boost::asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    // I/O objects: destroyed before ioc_.
    std::vector<listener> acceptors_;
    boost::asio::steady_timer sweep_timer_{ioc_};
    boost::asio::steady_timer stop_timer_{ioc_};
    origin_pool pool_;
    friend class client_session;
};

} // namespace edge522
