#include "proxy/worker.hpp"

#include "proxy/client_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstddef>
#include <malloc.h>
#include <pthread.h>

// Asio's memory comes from plain operator new (BOOST_ASIO_DISABLE_STD_ALIGNED_ALLOC and
// BOOST_ASIO_DISABLE_BOOST_ALIGN in CMakeLists.txt), which then ignores the alignment Asio asks
// for: its default, alignof(max_align_t), or a handler's own alignment (none of ours is
// over-aligned). Sound only where operator new gives that much.
static_assert(__STDCPP_DEFAULT_NEW_ALIGNMENT__ >= alignof(std::max_align_t));

namespace edge522 {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// glibc's malloc_trim, one worker at a time. Where glibc's malloc is not the allocator (under
// AddressSanitizer, which brings its own), the first call sets up glibc's heap without a lock: a
// second worker trimming at the same tick read it half made (SEGV in mtrim, ~10 s into an edge with
// threads = 4 in the sanitizer pass of CI; four threads calling it at once under ASan crashed 11
// times in 1,000 runs, 0 in 1,000 with this guard). A worker that finds another trimming leaves it
// to that one: one call trims every arena.
std::atomic_flag trimming;

void trim_glibc() noexcept {
    if (trimming.test_and_set(std::memory_order_acquire)) return;
    ::malloc_trim(0);
    trimming.clear(std::memory_order_release);
}

} // namespace

heap_levers heap{trim_glibc, [](bool) noexcept {}};

namespace {

clock_type::duration shortest_phase_timeout(config::config const& c) {
    clock_type::duration shortest = c.timeouts.client_header;
    auto consider = [&shortest](clock_type::duration d) {
        if (d.count() > 0 && (shortest.count() <= 0 || d < shortest)) shortest = d;
    };
    consider(c.timeouts.write);
    for (auto const& o : c.origins) {
        consider(o.timeouts.read);
        consider(o.timeouts.write);
    }
    return shortest.count() > 0 ? shortest : clock_type::duration(std::chrono::seconds(10));
}

// Connections taken from the backlog at once after each accept's completion, as HAProxy's
// tune.maxaccept: one per completion would take a burst of 1,000 connects a scheduler round each,
// behind the completions of every busy connection (first requests waited seconds at 1,000).
constexpr int accept_batch = 64;

} // namespace

task<void> accept_loop(worker& w, worker::listener& l) {
    auto& a = l.acceptor;
    net::steady_timer backoff(a.get_executor());
    boost::system::error_code nec;
    a.non_blocking(true, nec);  // the batch's accepts return would_block when the backlog is empty
    for (;;) {
        // Accepted onto the worker's io_context executor type (tcp_socket), not the acceptor's, with
        // the peer's address as accept() gives it (no getpeername per connection).
        tcp::endpoint peer;
        auto [ec, socket] = co_await a.async_accept(w.context().get_executor(), peer, use_nothrow);
        if (!a.is_open() || ec == net::error::operation_aborted) co_return;
        if (ec) {
            // EMFILE/ENFILE/ENOBUFS: the pending connection stays queued; back off instead of
            // spinning on an accept that fails again at once.
            spdlog::warn("worker {}: accept failed: {}; retrying in 100 ms", w.index(), ec.message());
            backoff.expires_after(std::chrono::milliseconds(100));
            co_await backoff.async_wait(use_nothrow);
            continue;
        }
        w.admit(std::move(socket), peer, l.tls);
        for (int i = 1; i < accept_batch && !nec; ++i) {
            boost::system::error_code aec;
            tcp_socket more(w.context().get_executor());
            a.accept(more, peer, aec);
            if (aec) break;  // would_block: the backlog is empty (a failure: the next async_accept says)
            w.admit(std::move(more), peer, l.tls);
        }
    }
}

void worker::admit(tcp_socket socket, tcp::endpoint const& peer, bool tls) {
    if (draining()) return;  // the socket closes as it goes out of scope
    auto const limit = current()->cfg->edge.max_connections;
    if (limit != 0 && open_connections_.load(std::memory_order_relaxed) >= limit) {
        // Past max_connections: close at once (the client sees a clean FIN, nothing is read),
        // warning at most once a second per worker.
        if (auto now = clock_type::now(); now - last_limit_warning_ > std::chrono::seconds(1)) {
            last_limit_warning_ = now;
            spdlog::warn("worker {}: max_connections ({}) reached; closing new connections", index(), limit);
        }
        boost::system::error_code ec;
        socket.shutdown(tcp::socket::shutdown_both, ec);
        return;
    }
    std::make_shared<client_session>(*this, std::move(socket), peer, tls)->start();
}

runtime::runtime(std::shared_ptr<config::config const> c, std::shared_ptr<tls::server_contexts> stls,
                 std::vector<std::shared_ptr<tls::origin_context>> otls)
    : cfg(std::move(c)), routes(*cfg), access(cfg->access),
      pages(cfg->edge.colo, cfg->edge.server_header, cfg->edge.diagnostics), server_tls(std::move(stls)),
      origin_tls(std::move(otls)), watchdog_step(shortest_phase_timeout(*cfg)) {
    for (auto const& o : cfg->origins) {
        if (o.access) origin_access.emplace_back(std::in_place, *o.access);
        else origin_access.emplace_back(std::nullopt);
        std::vector<net::ip::address> list;
        for (auto const& a : o.egress ? *o.egress : cfg->edge.egress) {
            boost::system::error_code ec;  // validated by the config loader: literals
            list.push_back(net::ip::make_address(a, ec));
        }
        // The firewall policy, request_ack and the TLS settings change what a connection is, so
        // they are part of the key.
        std::string policy = "|ack=" + std::to_string(o.timeouts.request_ack.count());
        if (o.tls)
            policy += std::string("|tls=") + (o.verify == config::tls_verify::strict ? "strict" : "full") +
                      ":sni=" + o.tls_sni + ":ca=" + o.tls_ca;
        if (!o.firewall_allow.empty()) {
            policy += o.firewall == config::firewall_action::drop ? "|fw=drop:" : "|fw=reject:";
            for (auto const& c : o.firewall_allow) policy += c.text + ",";
        }
        std::vector<std::string> keys;
        for (auto const& server : o.servers) {
            if (list.empty()) keys.push_back(server.text + "|src=" + policy);
            for (auto const& a : list) keys.push_back(server.text + "|src=" + a.to_string() + policy);
        }
        pool_keys.push_back(std::move(keys));
        egress.push_back(std::move(list));
    }
}

namespace {

// `rt` with a reference count of this worker's own: every exchange copies the worker's pointer (it
// keeps its request's config generation), and a count shared by all workers would move its cache
// line between their cores twice per request. The holder keeps the generation alive.
std::shared_ptr<runtime const> worker_local(std::shared_ptr<runtime const> rt) {
    auto holder = std::make_shared<std::shared_ptr<runtime const> const>(std::move(rt));
    return {holder, holder->get()};
}

} // namespace

worker::worker(unsigned index, std::shared_ptr<runtime const> rt, std::atomic<std::uint64_t>& open_connections)
    : index_(index), rt_(worker_local(std::move(rt))), open_connections_(open_connections) {}

worker::~worker() {
    // Close pooled sockets and acceptors while ioc_ still exists (pool_ is declared after ioc_,
    // but be explicit: nothing may outlive the context it was created on).
    pool_.clear();
}

void worker::add_acceptor(tcp::acceptor a, bool tls) { acceptors_.push_back({std::move(a), tls}); }

void worker::run() {
    // "edge522 w0", ...: top -H, ps -L and /proc/PID/task/TID/comm tell the workers apart.
    std::string const name = "edge522 w" + std::to_string(index_);
    ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
    for (auto& a : acceptors_) {
        net::co_spawn(ioc_, accept_loop(*this, a), [this](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (std::exception const& ex) {
                spdlog::critical("worker {}: accept loop ended by exception: {}", index_, ex.what());
            }
        });
    }
    do_sweep();
    ioc_.run();
}

void worker::do_sweep() {
    sweep_timer_.expires_after(std::chrono::seconds(1));
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || draining_) return;
        pool_.sweep();
        // Busy connections wait for their next request in their coroutine (not re-spawned for
        // every request); those still waiting at this tick park, so that a connection idle for a
        // second or two holds no coroutine. Their frames and read buffers are freed in the
        // completions of the waits cancelled here, which run before what is posted after them:
        // returned to the kernel at once, not kept by the allocator.
        bool const many = sessions_.size() >= 64;
        if (many) heap.eager_return(true);
        for (auto& s : sessions_) static_cast<client_session&>(s).park_if_waiting();
        // Free heap goes back to the kernel every 10 s too: body relays and error pages come and
        // go in sizes that fragment the heap, and RSS should track live memory (the soak's growth
        // figure). Tens of microseconds.
        bool const trim = heap.trim && ++sweeps_ % 10 == 0;
        if (many || trim)
            net::post(ioc_, [many, trim] {
                if (many) heap.eager_return(false);
                if (trim) heap.trim();
            });
        do_sweep();
    });
}

std::vector<client_session*> worker::sessions() {
    std::vector<client_session*> all;
    all.reserve(sessions_.size());
    for (auto& s : sessions_) all.push_back(static_cast<client_session*>(&s));
    return all;
}

void worker::drain() {
    net::post(ioc_, [this] {
        draining_ = true;
        boost::system::error_code ec;
        for (auto& l : acceptors_) l.acceptor.close(ec);
        sweep_timer_.cancel();
        pool_.clear();
        for (auto* s : sessions()) s->drain();
    });
}

void worker::update(std::shared_ptr<runtime const> rt) {
    // The holder is made here, on the caller's thread: nothing in the posted handler allocates.
    net::post(ioc_, [this, rt = worker_local(std::move(rt))]() mutable { rt_ = std::move(rt); });
}

void worker::remove_session(session_hook& s) noexcept {
    sessions_.erase(sessions_.iterator_to(s));
    // The last session of a drain is gone: the worker's context runs out of work and its thread
    // ends now, not when force_stop()'s outright stop would have come.
    if (sessions_.empty() && draining_) stop_timer_.cancel();
}

void worker::force_stop() {
    // drain_timeout has passed: cut what is still in flight, so that every cut exchange is logged
    // as such; whatever still holds the context a second later is stopped outright.
    net::post(ioc_, [this] {
        if (sessions_.empty()) return;
        for (auto* s : sessions()) s->abort();
        stop_timer_.expires_after(std::chrono::seconds(1));
        stop_timer_.async_wait([this](boost::system::error_code ec) {
            if (!ec) ioc_.stop();
        });
    });
}

} // namespace edge522
