#include "proxy/metrics.hpp"

#include <fmt/format.h>

namespace edge522 {

process_counters& process_counters::process() noexcept {
    static process_counters counters;
    return counters;
}

void connect_histogram::observe(double seconds) noexcept {
    ++count;
    sum += seconds;
    for (std::size_t i = 0; i < bounds.size(); ++i)
        if (seconds <= bounds[i]) {
            ++buckets[i];
            return;
        }
}

void connect_histogram::merge(connect_histogram const& o) noexcept {
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += o.buckets[i];
    count += o.count;
    sum += o.sum;
}

void worker_metrics::count_request(std::string_view origin, unsigned status) {
    auto it = requests.find(origin);
    if (it == requests.end()) it = requests.emplace(std::string(origin), std::map<unsigned, std::uint64_t>{}).first;
    ++it->second[status];
}

void worker_metrics::count_fault(std::string_view origin, std::string_view type) {
    auto it = faults_applied.find(origin);
    if (it == faults_applied.end())
        it = faults_applied.emplace(std::string(origin), std::map<std::string, std::uint64_t, std::less<>>{}).first;
    auto t = it->second.find(type);
    if (t == it->second.end()) t = it->second.emplace(std::string(type), 0).first;
    ++t->second;
}

void worker_metrics::observe_connect(std::string_view origin, double seconds) {
    auto it = connect.find(origin);
    if (it == connect.end()) it = connect.emplace(std::string(origin), connect_histogram{}).first;
    it->second.observe(seconds);
}

void worker_metrics::merge(worker_metrics const& o) {
    for (auto const& [origin, codes] : o.requests)
        for (auto const& [code, n] : codes) requests[origin][code] += n;
    for (auto const& [origin, h] : o.connect) connect[origin].merge(h);
    for (auto const& [origin, types] : o.faults_applied)
        for (auto const& [type, n] : types) faults_applied[origin][type] += n;
    for (auto const& [origin, n] : o.faults_active) faults_active[origin] += n;
    reloads_ok += o.reloads_ok;
    reloads_rejected += o.reloads_rejected;
    connects_pending += o.connects_pending;
    connections_active += o.connections_active;
}

namespace {

// Label values are origin names from the config, but escape anyway (\, ", newline).
std::string label(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') { out += "\\n"; continue; }
        out += c;
    }
    return out;
}

} // namespace

std::string render_prometheus(worker_metrics const& m) {
    std::string out;
    out += "# HELP edge522_requests_total Requests answered, by origin and status code.\n"
           "# TYPE edge522_requests_total counter\n";
    for (auto const& [origin, codes] : m.requests)
        for (auto const& [code, n] : codes)
            out += fmt::format("edge522_requests_total{{origin=\"{}\",code=\"{}\"}} {}\n", label(origin), code, n);
    out += "# HELP edge522_origin_connect_seconds TCP connect time to origin servers (every attempt, "
           "including failed ones), by origin.\n# TYPE edge522_origin_connect_seconds histogram\n";
    for (auto const& [origin, h] : m.connect) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < h.bounds.size(); ++i) {
            cumulative += h.buckets[i];
            out += fmt::format("edge522_origin_connect_seconds_bucket{{origin=\"{}\",le=\"{}\"}} {}\n",
                               label(origin), h.bounds[i], cumulative);
        }
        out += fmt::format("edge522_origin_connect_seconds_bucket{{origin=\"{}\",le=\"+Inf\"}} {}\n", label(origin), h.count);
        out += fmt::format("edge522_origin_connect_seconds_sum{{origin=\"{}\"}} {}\n", label(origin), h.sum);
        out += fmt::format("edge522_origin_connect_seconds_count{{origin=\"{}\"}} {}\n", label(origin), h.count);
    }
    out += fmt::format("# HELP edge522_connections_active Open client connections.\n"
                       "# TYPE edge522_connections_active gauge\nedge522_connections_active {}\n",
                       m.connections_active);
    out += fmt::format("# HELP edge522_origin_connects_pending Origin connects in progress.\n"
                       "# TYPE edge522_origin_connects_pending gauge\nedge522_origin_connects_pending {}\n",
                       m.connects_pending);
    out += "# HELP edge522_faults_applied_total Emulated faults applied, by origin and type.\n"
           "# TYPE edge522_faults_applied_total counter\n";
    for (auto const& [origin, types] : m.faults_applied)
        for (auto const& [type, n] : types)
            out += fmt::format("edge522_faults_applied_total{{origin=\"{}\",type=\"{}\"}} {}\n", label(origin),
                               label(type), n);
    out += "# HELP edge522_faults_active Emulated faults in force (config and run-time), by origin.\n"
           "# TYPE edge522_faults_active gauge\n";
    for (auto const& [origin, n] : m.faults_active)
        out += fmt::format("edge522_faults_active{{origin=\"{}\"}} {}\n", label(origin), n);
    out += fmt::format("# HELP edge522_reloads_total Config reloads (SIGHUP and POST /reload), by result: "
                       "rejected = the file had errors and the running config stayed.\n"
                       "# TYPE edge522_reloads_total counter\n"
                       "edge522_reloads_total{{result=\"ok\"}} {}\nedge522_reloads_total{{result=\"rejected\"}} {}\n",
                       m.reloads_ok, m.reloads_rejected);
    out += fmt::format("# HELP edge522_access_log_dropped_total Access log lines dropped because the log's "
                       "destination did not keep up (the edge never waits for it).\n"
                       "# TYPE edge522_access_log_dropped_total counter\nedge522_access_log_dropped_total {}\n",
                       m.access_log_dropped);
    return out;
}

} // namespace edge522
