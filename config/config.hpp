#pragma once
// The typed, validated, frozen configuration. TOML -> `config` (defaults in member initializers,
// mirroring Cloudflare) -> validate collecting *all* errors with FILE:LINE:COL -> shared as
// std::shared_ptr<const config>. A reload builds a new one beside the old and swaps only when valid.
// See config/README.md for every key: unit, default, what 0 means.

#include "config/cidr.hpp"
#include "config/duration.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edge522::config {

using namespace std::chrono_literals;

// "127.0.0.1:8080", "[::1]:8080", "localhost:3000". For listeners `host` must be an IP literal;
// for origin servers it may be a name, resolved at run time.
struct host_port {
    std::string host;        // without brackets: "::1", "127.0.0.1", "app.internal"
    std::uint16_t port = 0;  // 0 allowed for listeners (the kernel picks one)
    std::string text;        // as written in the config, for logs and pages

    bool operator==(host_port const&) const = default;
};

// Parses "host:port" / "[v6]:port". Returns nullopt and sets `error` when malformed.
std::optional<host_port> parse_host_port(std::string_view text, std::string& error);

struct timeouts_section {
    duration connect = 19s;        // TCP handshake to the origin -> 522
    duration request_ack = 90s;    // request written but never ACKed -> 522 (TCP_USER_TIMEOUT)
    duration read = 125s;          // no response from the origin -> 524
    duration write = 30s;          // request body not taken -> 524; client not reading -> closed
    duration origin_idle = 900s;   // idle pooled origin connection closed
    duration client_header = 10s;  // full request head within this -> else 408
    duration client_idle = 400s;   // idle keep-alive client connection closed
    duration dns = 5s;             // edge522 extension: origin name resolution deadline -> 530
    duration tunnel_idle = 100s;   // edge522 extension: an upgraded (WebSocket) tunnel with no byte
                                   //   either way for this long is closed; 0 = never
    duration tls_handshake = 10s;  // edge522 extension: TLS handshake with an origin, after its TCP
                                   //   handshake -> 525 (the 522 deadline covers only TCP)
};

// [edge].access_log: where the access log goes. Only validated here; proxy/access_log opens it.
struct access_log_destination {
    enum class kind { stdout_stream, off, file };
    kind where = kind::stdout_stream;
    std::string path;  // kind::file only: opened for append at start, reopened on SIGUSR1

    bool operator==(access_log_destination const&) const = default;
};

// [[edge.certs]]: a certificate the HTTPS listeners present to clients whose SNI matches `hosts`.
struct edge_certificate {
    std::vector<std::string> hosts;  // lowercased patterns: exact, "*.suffix" or "*"
    std::string cert;                // PEM files
    std::string key;

    bool operator==(edge_certificate const&) const = default;
};

struct edge_section {
    std::vector<host_port> listen{{"127.0.0.1", 8080, "127.0.0.1:8080"}};
    unsigned threads = 0;          // 0 = one worker per core
    std::string cpu_affinity = "off";  // "off" | "auto": worker i bound to the i-th CPU the process may use
    std::string colo = "LOC";
    std::string server_header = "cloudflare";
    bool diagnostics = true;
    duration drain_timeout = 10s;
    std::vector<std::string> egress;   // source addresses of origin connects (IP literals), rotated
    std::uint64_t max_request_header = 32 * 1024;    // -> 431
    std::uint64_t max_response_header = 128 * 1024;  // edge522 extension: larger -> 520
    std::uint64_t max_url = 16 * 1024;               // edge522 extension: longer request target -> 414
    std::uint64_t max_connections = 0;               // 0 = only the fd limit
    access_log_destination access_log;               // "stdout" | "off" | a path containing '/'
    std::string log_format = "text";                 // "text" | "json"
    std::string log_level = "info";                  // trace debug info warn error critical off
    std::vector<host_port> listen_tls;               // HTTPS listeners
    std::string cert;                                // PEM; "" with listen_tls: a generated localhost cert
    std::string key;
    std::vector<edge_certificate> certs;             // [[edge.certs]]: chosen by SNI; cert/key the default
};

// Cloudflare's IP Access Rules: "allow" beats "block"; no match = allowed.
struct access_rules {
    std::vector<cidr> allow;
    std::vector<cidr> block;
    bool empty() const noexcept { return allow.empty() && block.empty(); }
};

enum class firewall_action { drop, reject };

struct admin_section {
    std::optional<host_port> listen = host_port{"127.0.0.1", 9522, "127.0.0.1:9522"};  // "" -> nullopt
    std::string token;
};

// SPEC section 5.
enum class fault_type {
    blackhole, syn_loss, connect_delay, refuse, unreachable, dns_fail,  // connect phase
    response_delay, no_ack, reset, empty, garbage,                     // after the connect
    tls_fail, bad_cert,                                                // after the TCP connect, on a new connection
};

// One emulated failure of an origin, as written in [[origins.faults]], the admin API's JSON or the
// [chaos].header value. Validated by whoever parsed it (check_fault_type / the readers).
struct fault {
    fault_type type = fault_type::blackhole;
    double probability = 1.0;        // 0..1; for syn_loss: per SYN (the fault itself always applies)
    std::string path_prefix = "/";   // only requests whose path starts with this
    duration delay{0};               // connect_delay, response_delay
    duration jitter{0};              // +- uniformly around delay (never below 0)
    duration up{0};                  // schedule: off for `up`, then on for `down`, repeating from the
    duration down{0};                //   fault's creation; both 0 = always on

    bool scheduled() const noexcept { return up.count() > 0 && down.count() > 0; }
    bool operator==(fault const&) const = default;
};

std::string_view name(fault_type t) noexcept;
// The type of `text`, or nullopt with `error` naming why.
// A finite decimal number written in full ("0.25", "1", "1e-3"): no hex, inf or nan, nothing
// after it. nullopt otherwise.
std::optional<double> parse_decimal(std::string_view text) noexcept;

// At most the first `max` bytes of `text`, never ending inside a UTF-8 sequence: a name echoed
// in an error message (a JSON reply) stays valid UTF-8.
std::string_view text_prefix(std::string_view text, std::size_t max = 64) noexcept;

std::optional<fault_type> parse_fault_type(std::string_view text, std::string& error);
// Emulated instead of the TCP connect (never on a pooled connection).
bool connect_phase(fault_type t) noexcept;
// Emulated on a new connection (connect-phase faults, and the TLS ones after a real TCP connect).
bool needs_new_connection(fault_type t) noexcept;

struct chaos_section {
    std::uint64_t seed = 0;
    std::string header;  // "" = off
};

// Per-origin effective timeouts: the [timeouts] values unless the origin overrides them.
struct origin_timeouts {
    duration connect = 19s;
    duration request_ack = 90s;
    duration read = 125s;
    duration write = 30s;
    duration origin_idle = 900s;
};

enum class tls_verify { full, strict };  // Cloudflare's SSL modes Full and Full (strict)

struct origin {
    std::string name;
    std::vector<std::string> hosts{"*"};   // lowercased; exact, "*.suffix" or "*"
    std::vector<host_port> servers{{"127.0.0.1", 3000, "127.0.0.1:3000"}};
    bool failover = true;
    origin_timeouts timeouts;              // effective (inherited from [timeouts], then overridden)
    std::optional<access_rules> access;    // present: replaces [access] for this origin's hosts
    std::optional<std::vector<std::string>> egress;  // present: replaces [edge].egress
    std::vector<cidr> firewall_allow;      // non-empty: emulate the origin's firewall
    firewall_action firewall = firewall_action::drop;
    std::vector<fault> faults;             // [[origins.faults]], in file order
    bool tls = false;                      // HTTPS to the origin
    tls_verify verify = tls_verify::full;  // full: any certificate; strict: chain and name must verify
    std::string tls_sni;                   // "" = the server's host name (none for an IP literal)
    std::string tls_ca;                    // PEM bundle for strict; "" = the system store
};

struct config {
    std::string source;  // file path, or "<embedded default>"
    edge_section edge;
    timeouts_section timeouts;
    admin_section admin;
    access_rules access;
    chaos_section chaos;
    std::vector<origin> origins;
};

struct config_error {
    std::string file;
    int line = 0;    // 1-based; 0 when the error has no position (e.g. file not readable)
    int column = 0;
    std::string message;
    std::string to_string() const;  // "FILE:LINE:COL: message" (or "FILE: message" without position)
};

struct load_result {
    std::shared_ptr<const config> cfg;  // set iff errors is empty
    std::vector<config_error> errors;
};

load_result load_file(std::string const& path);
load_result load_string(std::string_view toml_text, std::string const& source_name);

// The embedded default (SPEC section 2): listen 127.0.0.1:8080, origin "app" = 127.0.0.1:3000 for
// every host, admin on 127.0.0.1:9522.
std::string_view default_toml();

} // namespace edge522::config
