#include "proxy/cli.hpp"
#include "proxy/tls.hpp"

#include "config/config.hpp"
#include "proxy/server.hpp"
#include "proxy/tools/demo.hpp"
#include "proxy/tools/fault_cli.hpp"
#include "proxy/tools/probe.hpp"
#include "proxy/tools/tarpit.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

namespace edge522 {

namespace {

constexpr int exit_invalid = 2;

void print_errors(std::vector<config::config_error> const& errors) {
    for (auto const& e : errors) std::cerr << e.to_string() << "\n";
}

int do_check(std::string const& path) {
    auto r = config::load_file(path);
    if (!r.errors.empty()) {
        print_errors(r.errors);
        std::cerr << path << ": " << r.errors.size() << " error(s)\n";
        return exit_invalid;
    }
    if (auto bad = tls::check_files(*r.cfg); !bad.empty()) {
        for (auto const& e : bad) std::cerr << path << ": " << e << "\n";
        std::cerr << path << ": " << bad.size() << " error(s)\n";
        return exit_invalid;
    }
    std::cout << path << ": OK (" << r.cfg->origins.size() << " origin(s))\n";
    return 0;
}

int do_serve(std::string const& path, std::string const& log_level) {
    auto r = path.empty() ? config::load_string(config::default_toml(), "<embedded default>")
                          : config::load_file(path);
    if (!r.errors.empty()) {
        print_errors(r.errors);
        return exit_invalid;
    }
    auto level = spdlog::level::from_str(log_level.empty() ? r.cfg->edge.log_level : log_level);
    auto logger = spdlog::stderr_color_mt("edge522");
    spdlog::set_default_logger(logger);
    spdlog::set_level(level);
    spdlog::flush_on(spdlog::level::info);
    server s(r.cfg, path, !log_level.empty());
    int rc = s.run();
    spdlog::shutdown();  // flushes the edge's own log (server::run() has written out the access log)
    return rc;
}

} // namespace

int cli_main(int argc, char** argv) {
    CLI::App app{"edge522: an HTTP edge reverse proxy that behaves toward origins the way Cloudflare's "
                 "edge does (522 at the connect deadline, the whole 52x family)."};
    app.set_version_flag("--version", std::string("edge522 ") + EDGE522_VERSION);
    std::string config_path;
    std::string log_level;
    // No ExistingFile check: a missing file is reported by the loader as "FILE: cannot read: ...",
    // exit 2, the same for serve and check.
    app.add_option("--config", config_path, "TOML config file (default: the embedded default: listen "
                   "127.0.0.1:8080, origin 127.0.0.1:3000 for every host); also the file `check` checks");
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off "
                   "(overrides edge.log_level)")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.require_subcommand(0, 1);

    // `check FILE`, `check --config FILE` and `--config FILE check` all name the file.
    auto* check = app.add_subcommand("check", "validate a config file: exit 0 when valid, else print "
                                     "every error as FILE:LINE:COL: message and exit 2");
    std::string check_file, check_config;
    check->add_option("file", check_file, "the TOML file to check");
    check->add_option("--config", check_config, "the TOML file to check (as FILE)");

    auto* tarpit = app.add_subcommand("tarpit", "a test origin without root: blackhole (default) never "
                                      "completes TCP handshakes, refuse answers RST, silent accepts and "
                                      "never answers; prints 'tarpit listening on HOST:PORT' per listener");
    std::vector<std::string> tarpit_listen;
    std::string tarpit_mode = "blackhole";
    tarpit->add_option("--listen", tarpit_listen, "address to listen on, e.g. 127.0.0.1:0 (repeatable)")
        ->required();
    tarpit->add_option("--mode", tarpit_mode, "blackhole, refuse or silent")
        ->check(CLI::IsMember({"blackhole", "refuse", "silent"}));

    auto* demo = app.add_subcommand("demo", "a self-contained showcase: the edge plus demo origins on loopback "
                                    "for ok/down/timeout/slow/broken.localhost (200, 521, 522, 524, 520)");
    std::string demo_listen = "127.0.0.1:8080";
    demo->add_option("--listen", demo_listen, "where the edge listens (default 127.0.0.1:8080)");

    auto* probe = app.add_subcommand("probe", "diagnose an origin (host:port, or an http(s) URL which also gets "
                                     "one GET): the code an edge would answer, DNS/handshake/first-byte times, "
                                     "for HTTPS the certificate and its verification, the cause and the fix; "
                                     "exit 0 when reachable, 1 otherwise");
    tools::probe_options popt;
    std::string probe_connect = "19s", probe_read = "125s", probe_tls = "10s", probe_verify = "strict";
    probe->add_option("target", popt.target, "host:port, http://host[:port]/path or https://host[:port]/path")->required();
    probe->add_flag("--tls", popt.https, "TLS to a host:port target (as an origin with tls = true)");
    probe->add_option("--tls-verify", probe_verify, "strict (default: a certificate that does not verify is 526) or "
                      "full (any certificate; the verdict is still shown)")
        ->check(CLI::IsMember({"full", "strict"}));
    probe->add_option("--sni", popt.sni, "SNI and the name to verify (default: the host)");
    probe->add_option("--tls-ca", popt.tls_ca, "PEM bundle of trusted CAs (default: the system store)");
    probe->add_option("--tls-timeout", probe_tls, "TLS handshake deadline (default 10s)");
    probe->add_option("--connect-timeout", probe_connect, "TCP handshake deadline (default 19s)");
    probe->add_option("--read-timeout", probe_read, "response head deadline for URLs (default 125s)");
    probe->add_option("--from", popt.from, "source address to connect from (an egress address)");
    probe->add_flag("--json", popt.json, "one JSON object: code, cause, fix, connect_ms, ...");

    auto* fault = app.add_subcommand("fault", "add, list and remove emulated faults of a running edge through "
                                     "its admin API; exit 0 ok, 1 with the API's error (or a usage error), 2 when "
                                     "the edge cannot be reached");
    tools::fault_cli_options fopt;
    fault->add_option("--admin", fopt.admin, "the edge's admin address (default 127.0.0.1:9522)");
    fault->add_option("--token", fopt.token, "admin bearer token (default: $EDGE522_ADMIN_TOKEN)");
    fault->require_subcommand(1, 1);
    auto* fault_add = fault->add_subcommand("add", "add a run-time fault to an origin: ORIGIN TYPE [options]");
    fault_add->add_option("origin", fopt.origin, "origin name")->required();
    fault_add->add_option("type", fopt.type, "blackhole syn_loss connect_delay refuse unreachable dns_fail "
                          "response_delay no_ack reset empty garbage")->required();
    auto opt = [&](char const* flag, std::optional<std::string>& into, char const* what) {
        fault_add->add_option_function<std::string>(flag, [&into](std::string const& v) { into = v; }, what);
    };
    opt("--probability", fopt.probability, "0..1 (default 1; syn_loss: per SYN)");
    opt("--delay", fopt.delay, "e.g. 2s (connect_delay, response_delay)");
    opt("--jitter", fopt.jitter, "e.g. 100ms: the delay varies by up to this either way");
    opt("--path", fopt.path, "only requests whose path starts with this (default /)");
    opt("--schedule", fopt.schedule, "UP,DOWN e.g. 30s,10s: off for UP, on for DOWN, repeating");
    fault->add_subcommand("list", "every origin with its faults (config and run-time, with ids)");
    auto* fault_rm = fault->add_subcommand("rm", "remove fault ID of ORIGIN, or all of ORIGIN's faults");
    fault_rm->add_option("origin", fopt.origin, "origin name")->required();
    fault_rm->add_option("id", fopt.id, "fault id (default: every fault of the origin)");
    fault->add_subcommand("reset", "remove every run-time fault");
    for (auto const* name : {"add", "list", "rm", "reset"})
        fault->get_subcommand(name)->fallthrough();  // --admin / --token after the action too

    try {
        app.parse(argc, argv);
    } catch (CLI::ParseError const& e) {
        int rc = app.exit(e);
        // `fault`'s exit 2 means "the edge cannot be reached" (SPEC section 2): its usage errors
        // are 1, with every other failure.
        return rc == 0 ? 0 : fault->parsed() ? 1 : exit_invalid;
    }

    if (*check) {
        std::vector<std::string> named;
        for (auto const* p : {&check_file, &check_config, &config_path})
            if (!p->empty() && std::find(named.begin(), named.end(), *p) == named.end()) named.push_back(*p);
        if (named.size() != 1) {
            std::cerr << "edge522 check: " << (named.empty() ? "no file to check" : "more than one file named")
                      << "; usage: edge522 check FILE (or --config FILE)\n";
            return exit_invalid;
        }
        return do_check(named.front());
    }
    if (*tarpit) return tools::run_tarpit(tarpit_listen, tarpit_mode);
    if (*fault) {
        for (auto const* sub : fault->get_subcommands()) fopt.action = sub->get_name();
        return tools::run_fault_cli(fopt);
    }
    if (*demo) {
        spdlog::set_default_logger(spdlog::stderr_color_mt("edge522"));
        spdlog::set_level(log_level.empty() ? spdlog::level::info : spdlog::level::from_str(log_level));
        return tools::run_demo(demo_listen);
    }
    if (*probe) {
        std::string error;
        auto ct = config::parse_duration(probe_connect, error);
        auto rt = ct ? config::parse_duration(probe_read, error) : std::nullopt;
        auto tt = rt ? config::parse_duration(probe_tls, error) : std::nullopt;
        if (!ct || !rt || !tt || ct->count() <= 0 || rt->count() <= 0 || tt->count() <= 0) {
            std::cerr << "edge522 probe: bad duration: " << (error.empty() ? "must be > 0" : error) << "\n";
            return exit_invalid;
        }
        popt.connect_timeout = *ct;
        popt.read_timeout = *rt;
        popt.tls_timeout = *tt;
        popt.tls_verify = probe_verify == "full" ? config::tls_verify::full : config::tls_verify::strict;
        return tools::run_probe(popt);
    }
    return do_serve(config_path, log_level);
}

} // namespace edge522
