#pragma once
// The admin API (SPEC section 6) on its own listener, served on the server's control io_context
// (the main thread), never on a worker: nothing the edge port receives can reach it.
// One request per connection (Connection: close), each bounded in size and time.

#include "config/config.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace edge522 {

class worker;

// What a reload did: its errors (non-empty = rejected, the running config stays), else the
// changed keys that were NOT applied because they only take effect after a restart.
struct reload_result {
    std::vector<config::config_error> errors;
    std::vector<std::string> restart_required;  // e.g. "edge.listen", "edge.threads"
};

class admin {
public:
    struct hooks {
        std::function<std::shared_ptr<config::config const>()> current_config;
        // Re-reads the config file and applies what can be applied live.
        std::function<reload_result()> reload;
    };

    admin(boost::asio::io_context& ioc, std::vector<worker*> workers, hooks h);

    // Binds and listens; returns the error (the caller makes it a startup error).
    boost::system::error_code listen(config::host_port const& where);
    boost::asio::ip::tcp::endpoint local_endpoint() const;
    void start();
    void stop();

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace edge522
