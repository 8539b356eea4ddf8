#include "proxy/server.hpp"

#include "proxy/admin.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <thread>

namespace edge522 {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    ::getrlimit(RLIMIT_NOFILE, &rl);
    spdlog::info("file descriptor limit: {}", static_cast<unsigned long long>(rl.rlim_cur));
}

std::string endpoint_text(tcp::endpoint const& ep) {
    // Appends, not operator+ chains: GCC 12 -O2 warns falsely (-Wrestrict) on those.
    std::string out;
    auto a = ep.address();
    if (a.is_v6()) out.append("[").append(a.to_string()).append("]");
    else out.append(a.to_string());
    out.append(":").append(std::to_string(ep.port()));
    return out;
}

// Opens, binds and listens; with `reuse_port` the socket joins a SO_REUSEPORT group (one per
// worker, the kernel spreads connections). Errors are returned, never thrown.
boost::system::error_code open_acceptor(tcp::acceptor& a, tcp::endpoint const& ep, bool reuse_port) {
    boost::system::error_code ec;
    a.open(ep.protocol(), ec);
    if (ec) return ec;
    a.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return ec;
    if (ep.address().is_v6()) a.set_option(net::ip::v6_only(true), ec);
    if (reuse_port) {
        int one = 1;
        if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
            return {errno, boost::system::system_category()};
    }
    a.bind(ep, ec);
    if (ec) return ec;
    a.listen(net::socket_base::max_listen_connections, ec);
    return ec;
}

// Every egress address must be one this machine has: bind a throwaway socket to it.
std::vector<std::string> unusable_egress(config::config const& cfg) {
    std::vector<std::string> problems;
    std::vector<std::string> seen;
    auto check = [&](std::string const& a) {
        if (std::find(seen.begin(), seen.end(), a) != seen.end()) return;
        seen.push_back(a);
        net::io_context ioc;
        boost::system::error_code ec;
        auto addr = net::ip::make_address(a, ec);
        tcp::socket s(ioc);
        if (!ec) s.open(addr.is_v6() ? tcp::v6() : tcp::v4(), ec);
        if (!ec) s.bind(tcp::endpoint(addr, 0), ec);
        if (ec) problems.push_back("egress address " + a + " is not usable on this machine: " + ec.message());
    };
    for (auto const& a : cfg.edge.egress) check(a);
    for (auto const& o : cfg.origins)
        if (o.egress)
            for (auto const& a : *o.egress) check(a);
    return problems;
}

} // namespace

server::server(std::shared_ptr<config::config const> cfg, std::string config_path)
    : cfg_(std::move(cfg)), config_path_(std::move(config_path)) {}

bool server::bind_listeners() {
    bool const group = workers_.size() > 1;
    for (auto const& l : cfg_->edge.listen) {
        tcp::endpoint ep(net::ip::make_address(l.host), l.port);
        if (group && ep.port() != 0) {
            // A SO_REUSEPORT group would silently share the port with another edge522 of the same
            // user; a plain bind first proves the port is free.
            tcp::acceptor probe(workers_[0]->context());
            if (auto ec = open_acceptor(probe, ep, false)) {
                std::cerr << "edge522: cannot listen on " << l.text << ": " << ec.message() << "\n";
                return false;
            }
        }
        for (auto& w : workers_) {
            tcp::acceptor a(w->context());
            if (auto ec = open_acceptor(a, ep, group)) {
                std::cerr << "edge522: cannot listen on " << l.text << ": " << ec.message() << "\n";
                return false;
            }
            ep = a.local_endpoint();  // port 0: the others join the port the kernel picked
            w->add_acceptor(std::move(a));
        }
        std::cout << "edge522 listening on http://" << endpoint_text(ep) << std::endl;
    }
    return true;
}

std::vector<config::config_error> server::reload() {
    if (config_path_.empty()) {
        spdlog::warn("reload: serving the embedded default config, there is no file to reload");
        return {config::config_error{"<embedded default>", 0, 0, "no config file to reload (started without --config)"}};
    }
    auto r = config::load_file(config_path_);
    if (!r.errors.empty()) {
        for (auto const& e : r.errors) spdlog::error("reload rejected: {}", e.to_string());
        spdlog::error("reload of {} rejected with {} error(s); the running config stays", config_path_,
                      r.errors.size());
        return r.errors;
    }
    if (auto bad = unusable_egress(*r.cfg); !bad.empty()) {
        std::vector<config::config_error> errors;
        for (auto const& b : bad) {
            spdlog::error("reload rejected: {}", b);
            errors.push_back({config_path_, 0, 0, b});
        }
        return errors;
    }
    if (r.cfg->edge.listen != cfg_->edge.listen || r.cfg->edge.threads != cfg_->edge.threads)
        spdlog::warn("reload: edge.listen and edge.threads changes take effect only after a restart");
    cfg_ = r.cfg;
    auto rt = std::make_shared<runtime const>(cfg_);
    for (auto& w : workers_) w->update(rt);
    spdlog::info("reloaded {}", config_path_);
    return {};
}

int server::run() {
    if (auto bad = unusable_egress(*cfg_); !bad.empty()) {
        for (auto const& b : bad) std::cerr << "edge522: " << b << "\n";
        return 2;
    }
    raise_fd_limit();
    unsigned n = cfg_->edge.threads;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    auto rt = std::make_shared<runtime const>(cfg_);
    for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<worker>(i, rt, open_connections_));
    if (!bind_listeners()) return 2;

    net::io_context control;
    std::vector<worker*> wps;
    for (auto& w : workers_) wps.push_back(w.get());
    std::optional<admin> api;
    if (cfg_->admin.listen) {
        api.emplace(control, wps, admin::hooks{[this] { return cfg_; }, [this] { return reload(); }});
        if (auto ec = api->listen(*cfg_->admin.listen)) {
            std::cerr << "edge522: cannot listen on " << cfg_->admin.listen->text << " (admin): " << ec.message() << "\n";
            return 2;
        }
        std::cout << "edge522 admin listening on http://" << endpoint_text(api->local_endpoint()) << std::endl;
        api->start();
    }
    net::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
    net::steady_timer drain_deadline(control);
    std::atomic<unsigned> running{n};
    bool draining = false;

    std::vector<std::thread> threads;
    for (auto& w : workers_) {
        threads.emplace_back([&, wp = w.get()] {
            wp->run();
            if (running.fetch_sub(1) == 1)
                net::post(control, [&] {
                    // Every worker ran out of work: the drain is complete.
                    drain_deadline.cancel();
                    signals.cancel();
                });
        });
    }
    spdlog::info("edge522 {} serving with {} worker(s), config {}", EDGE522_VERSION, n, cfg_->source);

    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](boost::system::error_code ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                (void)reload();
            } else if (!draining) {
                draining = true;
                spdlog::info("{}: draining (at most {})", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                             config::format_duration(cfg_->edge.drain_timeout));
                for (auto& w : workers_) w->drain();
                if (api) api->stop();
                drain_deadline.expires_after(cfg_->edge.drain_timeout);
                drain_deadline.async_wait([&](boost::system::error_code tec) {
                    if (tec) return;
                    spdlog::warn("drain_timeout reached with exchanges still in flight; closing them");
                    for (auto& w : workers_) w->force_stop();
                    signals.cancel();
                });
            }
            wait_signal();
        });
    };
    wait_signal();
    control.run();
    for (auto& t : threads) t.join();
    spdlog::info("edge522 stopped");
    return 0;
}

} // namespace edge522
