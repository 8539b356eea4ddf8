#include "proxy/cpu_affinity.hpp"

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace edge522 {

std::vector<int> plan_worker_cpus(unsigned workers, std::string& error) {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    if (::sched_getaffinity(0, sizeof mask, &mask) != 0) {
        error = std::string("cannot read the CPUs this process may use (cpu_affinity = \"auto\"): ") +
                std::strerror(errno);
        return {};
    }
    std::vector<int> allowed;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &mask)) allowed.push_back(c);
    if (allowed.empty()) {
        error = "the process may use no CPU (cpu_affinity = \"auto\")";
        return {};
    }
    std::vector<int> plan;
    plan.reserve(workers);
    for (unsigned i = 0; i < workers; ++i) plan.push_back(allowed[i % allowed.size()]);
    return plan;
}

std::string bind_worker_to_cpu(unsigned worker, int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (int const err = ::pthread_setaffinity_np(::pthread_self(), sizeof one, &one); err != 0)
        return "cannot bind worker " + std::to_string(worker) + " to CPU " + std::to_string(cpu) + ": " +
               std::strerror(err);
    return {};
}

} // namespace edge522
