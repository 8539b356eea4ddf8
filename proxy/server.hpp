#pragma once
// The process: owns the workers (one thread and io_context each), binds every listener before the
// first connection is served, and handles signals on the main thread's own io_context:
// SIGHUP reloads the config file (kept on error), SIGTERM/SIGINT drain and exit 0.

#include "config/config.hpp"
#include "proxy/admin.hpp"
#include "proxy/worker.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edge522 {

// Opens, binds and listens a client listener (TCP_NODELAY set on it, which accepted sockets
// inherit); with `reuse_port` the socket joins a SO_REUSEPORT group (one per worker, the kernel
// spreads connections). Errors are returned, never thrown.
boost::system::error_code open_acceptor(boost::asio::ip::tcp::acceptor& a, boost::asio::ip::tcp::endpoint const& ep,
                                        bool reuse_port);

class server {
public:
    // `config_path` empty = the embedded default (SIGHUP then has nothing to reload).
    // `log_level_pinned`: --log-level was given, so a reload leaves the log level alone.
    server(std::shared_ptr<config::config const> cfg, std::string config_path, bool log_level_pinned = false);

    // Binds, serves until drained. Returns the process exit code: 0 after a drain, 2 when a
    // listener cannot be bound.
    int run();

private:
    bool bind_listeners();
    // One config generation with its TLS contexts (certificate files read now). Null with `error`
    // when a file does not load. Makes the localhost certificate on first need.
    std::shared_ptr<runtime const> make_runtime(std::shared_ptr<config::config const> const& cfg, std::string& error);
    // SIGHUP and POST /reload: applies what can change live, names what needs a restart.
    reload_result reload() noexcept;
    reload_result do_reload();
    std::vector<std::string> restart_only_changes(config::config const& next) const;

    std::shared_ptr<config::config const> cfg_;      // the running config (swapped by reload)
    std::shared_ptr<config::config const> started_;  // the one the sockets and threads were made from
    std::string config_path_;
    bool log_level_pinned_ = false;
    std::vector<std::unique_ptr<worker>> workers_;
    std::optional<tls::local_certificate> local_cert_;  // made at start when listen_tls has no cert
    std::atomic<std::uint64_t> open_connections_{0};
};

} // namespace edge522
