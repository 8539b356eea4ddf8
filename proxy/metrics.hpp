#pragma once
// Per-worker counters. Each worker owns one `worker_metrics` and is the only thread that writes it;
// the admin API collects copies by posting to every worker and merges them on its own thread, so
// the request path takes no lock and shares no cache line.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace edge522 {

struct connect_histogram {
    // Seconds; Cloudflare's 19 s deadline gets its own bucket.
    static constexpr std::array<double, 14> bounds{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5,   1,     2.5,  5,     10,   19,  30};
    std::array<std::uint64_t, bounds.size()> buckets{};  // non-cumulative; rendered cumulative
    std::uint64_t count = 0;
    double sum = 0;

    void observe(double seconds) noexcept;
    void merge(connect_histogram const& o) noexcept;
};

struct worker_metrics {
    // origin ("" = the request never reached an origin) -> status code -> count
    std::map<std::string, std::map<unsigned, std::uint64_t>, std::less<>> requests;
    std::map<std::string, connect_histogram, std::less<>> connect;  // by origin
    // origin -> fault type -> requests that got that emulated fault
    std::map<std::string, std::map<std::string, std::uint64_t, std::less<>>, std::less<>> faults_applied;
    // origin -> faults in force (config and run-time); filled in by the admin from the registry
    std::map<std::string, std::uint64_t, std::less<>> faults_active;
    // config reloads (SIGHUP and POST /reload); filled in by the admin from process_counters
    std::uint64_t reloads_ok = 0;
    std::uint64_t reloads_rejected = 0;
    // access log lines dropped since start (its destination did not keep up); filled in by the admin
    std::uint64_t access_log_dropped = 0;
    std::uint64_t connects_pending = 0;
    std::uint64_t connections_active = 0;

    void count_request(std::string_view origin, unsigned status);
    void count_fault(std::string_view origin, std::string_view type);
    void observe_connect(std::string_view origin, double seconds);
    void merge(worker_metrics const& o);
};

// Process-wide counters, not per worker: written on the control thread (SIGHUP, POST /reload),
// read by the /metrics renderer. One instance per process.
struct process_counters {
    std::atomic<std::uint64_t> reloads_ok{0};
    std::atomic<std::uint64_t> reloads_rejected{0};  // the file had errors; the running config stayed

    static process_counters& process() noexcept;
};

// Prometheus text exposition format 0.0.4.
std::string render_prometheus(worker_metrics const& m);

} // namespace edge522
