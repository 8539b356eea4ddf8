#include "proxy/server.hpp"

#include "proxy/access_log.hpp"
#include "proxy/address_text.hpp"
#include "proxy/admin.hpp"
#include "proxy/cpu_affinity.hpp"
#include "proxy/faults.hpp"
#include "proxy/metrics.hpp"

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

boost::system::error_code open_acceptor(tcp::acceptor& a, tcp::endpoint const& ep, bool reuse_port) {
    boost::system::error_code ec;
    a.open(ep.protocol(), ec);
    if (ec) return ec;
    a.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return ec;
    if (ep.address().is_v6()) {
        // "[::]:8080" must not also take IPv4's 0.0.0.0:8080: that is a listener of its own.
        a.set_option(net::ip::v6_only(true), ec);
        if (ec) return ec;
    }
    if (reuse_port) {
        int one = 1;
        if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
            return {errno, boost::system::system_category()};
    }
    // Accepted sockets inherit TCP_NODELAY from the listener (Linux copies it into each child):
    // one setsockopt here instead of one per connection. test_listener checks the inheritance.
    a.set_option(tcp::no_delay(true), ec);
    if (ec) return ec;
    a.bind(ep, ec);
    if (ec) return ec;
    a.listen(net::socket_base::max_listen_connections, ec);
    return ec;
}

server::server(std::shared_ptr<config::config const> cfg, std::string config_path, bool log_level_pinned)
    : cfg_(std::move(cfg)), started_(cfg_), config_path_(std::move(config_path)), log_level_pinned_(log_level_pinned) {}

bool server::bind_listeners() {
    bool const group = workers_.size() > 1;
    auto bind_all = [&](std::vector<config::host_port> const& list, bool tls) {
        for (auto const& l : list) {
            boost::system::error_code aec;
            auto const addr = net::ip::make_address(l.host, aec);
            if (aec) {
                std::cerr << "edge522: cannot listen on " << l.text << ": " << aec.message() << "\n";
                return false;
            }
            tcp::endpoint ep(addr, l.port);
            if (group && ep.port() != 0) {
                // A SO_REUSEPORT group would silently share the port with another edge522 of the
                // same user; a plain bind first proves the port is free.
                tcp::acceptor probe(workers_[0]->context());
                if (auto ec = open_acceptor(probe, ep, false)) {
                    std::cerr << "edge522: cannot listen on " << l.text << ": " << ec.message() << "\n";
                    return false;
                }
            }
            for (auto& w : workers_) {
                tcp::acceptor a(w->context());
                auto ec = open_acceptor(a, ep, group);
                if (!ec) ep = a.local_endpoint(ec);  // port 0: the others join the port the kernel picked
                if (ec) {
                    std::cerr << "edge522: cannot listen on " << l.text << ": " << ec.message() << "\n";
                    return false;
                }
                w->add_acceptor(std::move(a), tls);
            }
            std::cout << "edge522 listening on " << (tls ? "https://" : "http://") << endpoint_text(ep) << std::endl;
        }
        return true;
    };
    return bind_all(cfg_->edge.listen, false) && bind_all(cfg_->edge.listen_tls, true);
}

std::shared_ptr<runtime const> server::make_runtime(std::shared_ptr<config::config const> const& cfg,
                                                    std::string& error) {
    std::shared_ptr<tls::server_contexts> server_tls;
    // The HTTPS listeners bound at start keep serving until a restart, whatever a reload says.
    if (!cfg->edge.listen_tls.empty() || !started_->edge.listen_tls.empty()) {
        std::string cert = cfg->edge.cert, key = cfg->edge.key;
        if (cert.empty()) {
            if (!local_cert_) {
                local_cert_ = tls::make_local_certificate(error);
                if (!local_cert_) return nullptr;
                spdlog::info("no [edge].cert: {} the localhost certificate {} (key {}), signed by the local CA {}; "
                             "to trust it: curl --cacert {} https://localhost:PORT/, or import the CA into a browser",
                             local_cert_->reused ? "reusing" : "made", local_cert_->cert, local_cert_->key,
                             local_cert_->ca_cert, local_cert_->ca_cert);
            }
            cert = local_cert_->cert;
            key = local_cert_->key;
        }
        server_tls = tls::server_contexts::build(cert, key, cfg->edge.certs, error);
        if (!server_tls) return nullptr;
    }
    std::vector<std::shared_ptr<tls::origin_context>> origin_tls;
    for (auto const& o : cfg->origins) {
        if (!o.tls) {
            origin_tls.emplace_back();
            continue;
        }
        auto ctx = tls::origin_context::build(o, error);
        if (!ctx) return nullptr;
        origin_tls.push_back(std::move(ctx));
    }
    return std::make_shared<runtime const>(cfg, std::move(server_tls), std::move(origin_tls));
}

// The keys a running process cannot change: its sockets, threads and log sinks are set up once.
// Compared with the config the process started with, so a reload after a reload still reports a
// change that is waiting for its restart.
std::vector<std::string> server::restart_only_changes(config::config const& next) const {
    std::vector<std::string> keys;
    auto const& now = started_->edge;
    if (next.edge.listen != now.listen) keys.emplace_back("edge.listen");
    if (next.edge.listen_tls != now.listen_tls) keys.emplace_back("edge.listen_tls");
    if (next.edge.threads != now.threads) keys.emplace_back("edge.threads");
    if (next.edge.cpu_affinity != now.cpu_affinity) keys.emplace_back("edge.cpu_affinity");
    if (next.admin.listen != started_->admin.listen) keys.emplace_back("admin.listen");
    if (next.edge.access_log != now.access_log) keys.emplace_back("edge.access_log");
    if (next.edge.log_format != now.log_format) keys.emplace_back("edge.log_format");
    // The level applies live to the edge's own log (reload()), but whether the access log runs at
    // all (off above "info") is decided at start.
    auto const above_info = [](std::string const& l) { return spdlog::level::from_str(l) > spdlog::level::info; };
    if (!log_level_pinned_ && above_info(next.edge.log_level) != above_info(now.log_level))
        keys.emplace_back("edge.log_level");
    return keys;
}

reload_result server::reload() noexcept {
    // Runs in a signal handler and an admin handler: nothing may escape.
    auto& counters = process_counters::process();
    try {
        auto r = do_reload();
        (r.errors.empty() ? counters.reloads_ok : counters.reloads_rejected).fetch_add(1, std::memory_order_relaxed);
        return r;
    } catch (std::exception const& ex) {
        counters.reloads_rejected.fetch_add(1, std::memory_order_relaxed);
        spdlog::error("reload failed: {}; the running config stays", ex.what());
        reload_result r;
        r.errors.push_back({config_path_, 0, 0, std::string("reload failed: ") + ex.what()});
        return r;
    } catch (...) {
        counters.reloads_rejected.fetch_add(1, std::memory_order_relaxed);
        spdlog::error("reload failed; the running config stays");
        reload_result r;
        r.errors.push_back({config_path_, 0, 0, "reload failed"});
        return r;
    }
}

reload_result server::do_reload() {
    reload_result result;
    if (config_path_.empty()) {
        spdlog::warn("reload: serving the embedded default config, there is no file to reload");
        result.errors.push_back({"<embedded default>", 0, 0, "no config file to reload (started without --config)"});
        return result;
    }
    auto r = config::load_file(config_path_);
    if (!r.errors.empty()) {
        for (auto const& e : r.errors) spdlog::error("reload rejected: {}", e.to_string());
        spdlog::error("reload of {} rejected with {} error(s); the running config stays", config_path_,
                      r.errors.size());
        result.errors = std::move(r.errors);
        return result;
    }
    if (auto bad = unusable_egress(*r.cfg); !bad.empty()) {
        for (auto const& b : bad) {
            spdlog::error("reload rejected: {}", b);
            result.errors.push_back({config_path_, 0, 0, b});
        }
        return result;
    }
    // Certificates are read again on every reload (a renewed certificate needs no restart).
    std::string tls_error;
    auto rt = make_runtime(r.cfg, tls_error);
    if (!rt) {
        spdlog::error("reload rejected: {}; the running config stays", tls_error);
        result.errors.push_back({config_path_, 0, 0, tls_error});
        return result;
    }
    result.restart_required = restart_only_changes(*r.cfg);
    if (r.cfg->edge.log_level != cfg_->edge.log_level) {
        if (log_level_pinned_) {
            spdlog::warn("reload: edge.log_level changed to {}, but --log-level overrides it", r.cfg->edge.log_level);
        } else {
            // The edge's own log follows at once; the access log stays as it was made at start.
            spdlog::default_logger()->set_level(spdlog::level::from_str(r.cfg->edge.log_level));
            spdlog::info("reload: log level now {}", r.cfg->edge.log_level);
        }
    }
    cfg_ = r.cfg;
    for (auto& w : workers_) w->update(rt);
    fault_registry::process().load_config(*cfg_);  // config faults replaced; run-time ones kept
    if (result.restart_required.empty()) {
        spdlog::info("reloaded {}", config_path_);
    } else {
        std::string keys;
        for (auto const& k : result.restart_required) keys.append(keys.empty() ? "" : ", ").append(k);
        spdlog::warn("reloaded {}; these changes are NOT applied until a restart: {}", config_path_, keys);
    }
    return result;
}

int server::run() {
    if (auto bad = unusable_egress(*cfg_); !bad.empty()) {
        for (auto const& b : bad) std::cerr << "edge522: " << b << "\n";
        return 2;
    }
    // Opened before the workers start; written out after they are joined (on every return), so a
    // drain loses no line. A log_level above info turns it off too (config/README.md).
    auto destination = cfg_->edge.access_log;
    if (spdlog::get_level() > spdlog::level::info) destination = {config::access_log_destination::kind::off, ""};
    if (auto err = init_access_log(destination, cfg_->edge.log_format == "json" ? access_log_format::json
                                                                                 : access_log_format::text);
        !err.empty()) {
        std::cerr << "edge522: " << err << "\n";
        return 2;
    }
    struct access_log_closer {
        ~access_log_closer() { shutdown_access_log(); }
    } const close_access_log_at_return;
    raise_fd_limit();
    unsigned n = cfg_->edge.threads;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    std::vector<int> cpus;  // by worker; empty: the kernel places them
    if (cfg_->edge.cpu_affinity == "auto") {
        std::string err;
        cpus = plan_worker_cpus(n, err);
        if (cpus.empty()) {
            std::cerr << "edge522: " << err << "\n";
            return 2;
        }
    }
    std::string tls_error;
    auto rt = make_runtime(cfg_, tls_error);
    if (!rt) {
        std::cerr << "edge522: " << tls_error << "\n";
        return 2;
    }
    fault_registry::process().load_config(*cfg_);
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
    signals.add(SIGUSR1);  // reopen the access log file (rotation)
    net::steady_timer drain_deadline(control);
    std::atomic<unsigned> running{n};
    bool draining = false;

    std::vector<std::thread> threads;
    for (auto& w : workers_) {
        threads.emplace_back([&, wp = w.get(), cpu = cpus.empty() ? -1 : cpus[threads.size()]] {
            if (cpu >= 0)
                if (auto err = bind_worker_to_cpu(wp->index(), cpu); !err.empty())
                    spdlog::error("{}; it runs where the kernel places it", err);
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
    if (!cpus.empty()) spdlog::info("workers bound to CPUs (cpu_affinity = \"auto\"): {}", fmt::join(cpus, " "));

    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](boost::system::error_code ec, int sig) {
            if (ec) return;
            if (sig == SIGUSR1) {
                reopen_access_log();
            } else if (sig == SIGHUP) {
                (void)reload();  // it logs what it did
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
