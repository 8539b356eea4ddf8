#pragma once
// The process: owns the workers (one thread and io_context each), binds every listener before the
// first connection is served, and handles signals on the main thread's own io_context:
// SIGHUP reloads the config file (kept on error), SIGTERM/SIGINT drain and exit 0.

#include "config/config.hpp"
#include "proxy/worker.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edge522 {

class server {
public:
    // `config_path` empty = the embedded default (SIGHUP then has nothing to reload).
    server(std::shared_ptr<config::config const> cfg, std::string config_path);

    // Binds, serves until drained. Returns the process exit code: 0 after a drain, 2 when a
    // listener cannot be bound.
    int run();

private:
    bool bind_listeners();
    std::vector<config::config_error> reload();

    std::shared_ptr<config::config const> cfg_;
    std::string config_path_;
    std::vector<std::unique_ptr<worker>> workers_;
    std::atomic<std::uint64_t> open_connections_{0};
};

} // namespace edge522
