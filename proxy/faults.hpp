#pragma once
// Emulated origin failures (SPEC section 5): which faults are in force, and which one a request
// gets. The registry is process-wide: the control thread (admin API, reload) writes it under a
// mutex and publishes an immutable `fault_table`; workers read the published table per request
// without a lock (an atomic flag says whether there is any fault at all, so an edge without chaos
// pays one relaxed load). A change applies from the next request on every worker.
//
// A request's fault is decided ONCE (client_session::forward, before acquire) into a
// `fault_choice`, which carries everything random about it (delay drawn, SYNs lost), so that the
// steps that apply it (acquire, send_request, read_response_head) never draw again.

#include "config/config.hpp"
#include "proxy/origin_connector.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edge522 {

// A fault in force, with where it came from. A schedule counts from `created`.
struct active_fault {
    std::uint64_t id = 0;
    config::fault spec;
    bool runtime = false;  // added through the admin API: survives a reload while its origin exists
    std::chrono::steady_clock::time_point created;
};

// Every origin's faults at one moment; immutable once published. Config faults first (file
// order), then run-time ones (by id).
struct fault_table {
    std::map<std::string, std::vector<active_fault>, std::less<>> by_origin;  // only origins with faults
    std::vector<active_fault> const* of(std::string_view origin) const noexcept;
};

// The fault one request got, with its random parts drawn.
struct fault_choice {
    config::fault spec;
    std::uint64_t id = 0;              // 0: from the [chaos].header of the request
    std::chrono::milliseconds delay{0};  // connect_delay / response_delay: delay +- jitter
    unsigned syns_lost = 0;            // syn_loss: how many SYNs in a row were lost (9 = all)

    // "emulated fault blackhole (id 3): " / "emulated fault reset (request header): "
    std::string prefix() const;
    std::string id_text() const;       // "3", or "header"
};

// Cloudflare's SYN retransmission gaps: SYN n (0-based) leaves at syn_offset(n) after the first.
// 0 1 2 3 4 5 7 11 19 s: the ninth SYN at 19 s is never answered in time (the deadline).
std::chrono::milliseconds syn_offset(unsigned n) noexcept;
constexpr unsigned max_syns = 9;
// How many SYNs leave before `deadline` (the first at 0): no more can be lost to a syn_loss.
unsigned syns_before(std::chrono::milliseconds deadline) noexcept;

// What decides: the seed ([chaos].seed, or a random one per process when 0) and the request's
// global sequence number. Same (seed, sequence) -> same choice, whatever the worker.
struct fault_draw {
    std::uint64_t seed;
    std::uint64_t sequence;
    double unit(std::uint64_t salt) const noexcept;  // uniform in [0, 1)
};

// The first of `faults` that applies to a request for `path` at `now`: under its path_prefix, its
// schedule on, and its probability drawn (syn_loss always applies: its probability is per SYN).
std::optional<fault_choice> decide(std::vector<active_fault> const& faults, std::string_view path,
                                   fault_draw const& draw, std::chrono::steady_clock::time_point now);
// The same for one fault spec (the request header's).
std::optional<fault_choice> decide_one(config::fault const& spec, std::uint64_t id, fault_draw const& draw,
                                       std::uint64_t salt = 0);

// A connect-phase fault emulated through the same classification and timing as the real failure:
// blackhole waits out the connect deadline (like the emulated firewall's "drop") -> connect_timeout;
// refuse, unreachable, dns_fail fail at once; syn_loss and connect_delay connect for real, late
// (after the lost SYNs' retransmission gaps, or delay +- jitter), or time out at the deadline.
// The outcome goes into `r`, as connect_origin()'s.
task<void> connect_with_fault(connect_result& r, worker_executor ex, connect_deadline& guard,
                              config::host_port const& server,
                              config::origin_timeouts const& timeouts,
                              std::chrono::milliseconds dns_timeout, connect_policy const& policy,
                              fault_choice const& fault);

// The three spellings of a fault. Each returns nullopt and an error that names the field.
// Header value: "response_delay;delay=2s;jitter=100ms" (keys: probability delay jitter path_prefix).
std::optional<config::fault> fault_from_header(std::string_view value, std::string& error);
// JSON: {"type":"blackhole","probability":0.5,"path_prefix":"/api","delay":"2s","jitter":"100ms",
//        "schedule":{"up":"30s","down":"10s"}}
std::optional<config::fault> fault_from_json(boost::json::value const& v, std::string& error);
boost::json::object fault_to_json(active_fault const& f);

class fault_registry {
public:
    // The edge's one registry.
    static fault_registry& process();

    // Workers: whether any fault exists (cheap), and the table.
    bool any() const noexcept { return any_.load(std::memory_order_acquire); }
    std::shared_ptr<fault_table const> snapshot() const { return current_.load(std::memory_order_acquire); }
    std::uint64_t next_sequence() noexcept { return sequence_.fetch_add(1, std::memory_order_relaxed) + 1; }
    std::uint64_t seed(config::config const& cfg) const noexcept { return cfg.chaos.seed ? cfg.chaos.seed : random_seed_; }

    // The control thread. A new config replaces every config fault and drops the run-time
    // faults of origins that no longer exist.
    void load_config(config::config const& cfg);
    std::uint64_t add(std::string_view origin, config::fault const& f);
    bool remove(std::string_view origin, std::uint64_t id);  // false: no such fault on that origin
    void clear(std::string_view origin);                      // config and run-time faults alike
    void reset();                                             // every run-time fault
    void restart_sequence() noexcept { sequence_.store(0, std::memory_order_relaxed); }  // tests

    fault_registry();

private:
    void publish();  // with mutex_ held

    std::mutex mutex_;
    fault_table state_;  // the writer's copy
    std::uint64_t next_id_ = 1;
    std::atomic<std::shared_ptr<fault_table const>> current_;
    std::atomic<bool> any_{false};
    std::atomic<std::uint64_t> sequence_{0};
    std::uint64_t random_seed_;
};

} // namespace edge522
