#pragma once
// Binding worker threads to CPUs ([edge].cpu_affinity = "auto", as nginx's worker_cpu_affinity
// auto): worker i runs on the i-th CPU the process may use, so that two busy workers never take
// turns on one CPU while the other idles (the scheduler's tail, bench/RESULTS.md round 10).
//
// Control path: the plan is made once at start, on the main thread; each worker binds itself
// before it serves.

#include <string>
#include <vector>

namespace edge522 {

// The CPU for each of `workers` workers: the CPUs in this thread's affinity mask (the process's at
// start, as taskset or a cgroup narrowed it), in order, wrapping around. Empty with `error` set
// when the mask cannot be read.
std::vector<int> plan_worker_cpus(unsigned workers, std::string& error);

// Binds the calling thread to `cpu`. "" or what failed ("cannot bind worker 1 to CPU 3: REASON").
std::string bind_worker_to_cpu(unsigned worker, int cpu);

} // namespace edge522
