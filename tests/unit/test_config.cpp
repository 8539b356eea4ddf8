#include "config/config.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace edge522::config;
using namespace std::chrono_literals;

namespace {

// The TOML snippets below open with a newline after R"( for readability: line 1 is the line after.
std::string_view text_of(std::string_view toml)
{
    if (!toml.empty() && toml.front() == '\n')
        toml.remove_prefix(1);
    return toml;
}

std::string joined(std::vector<config_error> const& errors)
{
    std::string out;
    for (auto const& e : errors)
        out += e.to_string() + "\n";
    return out;
}

std::shared_ptr<config const> load_ok(std::string_view toml)
{
    auto r = load_string(text_of(toml), "edge.toml");
    INFO(joined(r.errors));
    REQUIRE(r.errors.empty());
    REQUIRE(r.cfg);
    return r.cfg;
}

std::vector<std::string> errors_of(std::string_view toml)
{
    auto r = load_string(text_of(toml), "edge.toml");
    CHECK_FALSE(r.cfg); // a config with errors is never handed out
    std::vector<std::string> out;
    for (auto const& e : r.errors)
        out.push_back(e.to_string());
    return out;
}

// Exactly one error, as "FILE:LINE:COL: message".
std::string error_of(std::string_view toml)
{
    auto errors = errors_of(toml);
    INFO([&] {
        std::string all;
        for (auto const& e : errors)
            all += e + "\n";
        return all;
    }());
    REQUIRE(errors.size() == 1);
    return errors.front();
}

// Appended to snippets that test other sections, so that they have their one required origin.
constexpr std::string_view an_origin = R"(
[[origins]]
name = "app"
)";

std::string with_origin(std::string_view toml)
{
    return std::string(text_of(toml)) + std::string(an_origin);
}

std::filesystem::path repo_root()
{
    // __FILE__ is tests/unit/test_config.cpp, relative to the repo root or absolute.
    return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

} // namespace

// ---------------------------------------------------------------------------------------------
// What loads

TEST_CASE("the embedded default loads and matches SPEC section 2", "[config]")
{
    auto r = load_string(default_toml(), "<embedded default>");
    INFO(joined(r.errors));
    REQUIRE(r.errors.empty());
    REQUIRE(r.cfg);
    auto const& c = *r.cfg;
    CHECK(c.source == "<embedded default>");
    REQUIRE(c.edge.listen.size() == 1);
    CHECK(c.edge.listen[0] == host_port{"127.0.0.1", 8080, "127.0.0.1:8080"});
    REQUIRE(c.admin.listen.has_value());
    CHECK(*c.admin.listen == host_port{"127.0.0.1", 9522, "127.0.0.1:9522"});
    REQUIRE(c.origins.size() == 1);
    CHECK(c.origins[0].name == "app");
    CHECK(c.origins[0].hosts == std::vector<std::string>{"*"});
    REQUIRE(c.origins[0].servers.size() == 1);
    CHECK(c.origins[0].servers[0] == host_port{"127.0.0.1", 3000, "127.0.0.1:3000"});
}

TEST_CASE("an origin alone gets every default", "[config]")
{
    auto c = load_ok(an_origin);
    CHECK(c->source == "edge.toml");

    CHECK(c->edge.listen == std::vector<host_port>{{"127.0.0.1", 8080, "127.0.0.1:8080"}});
    CHECK(c->edge.threads == 0);
    CHECK(c->edge.cpu_affinity == "off");
    CHECK(c->edge.colo == "LOC");
    CHECK(c->edge.server_header == "cloudflare");
    CHECK(c->edge.diagnostics);
    CHECK(c->edge.drain_timeout == 10s);
    CHECK(c->edge.egress.empty());
    CHECK(c->edge.max_request_header == 32 * 1024);
    CHECK(c->edge.max_response_header == 128 * 1024);
    CHECK(c->edge.max_connections == 0);
    CHECK(c->edge.access_log == access_log_destination{});
    CHECK(c->edge.access_log.where == access_log_destination::kind::stdout_stream);
    CHECK(c->edge.log_format == "text");
    CHECK(c->edge.log_level == "info");
    CHECK(c->edge.listen_tls.empty());
    CHECK(c->edge.cert.empty());
    CHECK(c->edge.key.empty());

    CHECK(c->timeouts.connect == 19s);
    CHECK(c->timeouts.request_ack == 90s);
    CHECK(c->timeouts.read == 125s);
    CHECK(c->timeouts.write == 30s);
    CHECK(c->timeouts.origin_idle == 900s);
    CHECK(c->timeouts.client_header == 10s);
    CHECK(c->timeouts.client_idle == 400s);
    CHECK(c->timeouts.dns == 5s);

    REQUIRE(c->admin.listen.has_value());
    CHECK(c->admin.listen->text == "127.0.0.1:9522");
    CHECK(c->admin.token.empty());
    CHECK(c->chaos.seed == 0);
    CHECK(c->chaos.header.empty());

    REQUIRE(c->origins.size() == 1);
    auto const& o = c->origins[0];
    CHECK(o.hosts == std::vector<std::string>{"*"});
    CHECK(o.servers == std::vector<host_port>{{"127.0.0.1", 3000, "127.0.0.1:3000"}});
    CHECK(o.failover);
    CHECK(o.timeouts.connect == 19s);
    CHECK(o.timeouts.request_ack == 90s);
    CHECK(o.timeouts.read == 125s);
    CHECK(o.timeouts.write == 30s);
    CHECK(o.timeouts.origin_idle == 900s);
}

TEST_CASE("config/edge522.toml loads without errors", "[config]")
{
    auto path = (repo_root() / "config" / "edge522.toml").string();
    auto r = load_file(path);
    INFO(joined(r.errors));
    REQUIRE(r.errors.empty());
    REQUIRE(r.cfg);
    CHECK(r.cfg->source == path);
    CHECK(r.cfg->origins.size() == 1);
}

TEST_CASE("every key commented out in config/edge522.toml is a known key", "[config]")
{
    // Uncommenting the examples must give no "unknown key" error (their files need not exist here:
    // "cannot read" is fine).
    std::ifstream in(repo_root() / "config" / "edge522.toml");
    REQUIRE(in);
    std::string line, text;
    int uncommented = 0;
    while (std::getline(in, line)) {
        bool const key_line = line.size() > 2 && line.starts_with("# ") && line[2] >= 'a' && line[2] <= 'z' &&
                              line.find(" = ") != std::string::npos;
        if (key_line || line.starts_with("# [[origins.faults]]") || line.starts_with("# [[edge.certs]]")) {
            line = line.substr(2);
            ++uncommented;
        }
        text += line + "\n";
    }
    CHECK(uncommented >= 12);
    auto r = load_string(text, "uncommented.toml");
    for (auto const& e : r.errors) {
        INFO(e.to_string());
        CHECK(e.message.find("unknown key") == std::string::npos);
        CHECK(e.message.find("Error while parsing") == std::string::npos);
    }
}

TEST_CASE("every supported key is read", "[config]")
{
    auto c = load_ok(R"(
[edge]
listen = ["127.0.0.1:8080", "[::1]:8081", "0.0.0.0:0"]
threads = 8
colo = "LHR"
server_header = "edge522 test"
diagnostics = false
drain_timeout = "0s"
egress = []
max_request_header = 65536
max_response_header = "1MiB"
max_connections = 10000
access_log = "/var/log/edge522/access.log"
log_format = "json"
log_level = "debug"
listen_tls = []
cert = ""
key = ""

[timeouts]
connect = "250ms"
request_ack = "0s"
read = "1.5s"
write = "2m"
origin_idle = "0s"
client_header = "3s"
client_idle = "0s"
dns = "1h"

[access]
allow = []
block = []

[admin]
listen = ""
token = "s3cret-token"

[chaos]
seed = 42
header = ""

[[origins]]
name = "api.v2"
hosts = ["API.Example.TEST", "*.Example.test", "[::1]", "127.0.0.1"]
servers = ["app.internal:3000", "[::1]:3001", "10.0.0.1:80"]
failover = false

[[origins]]
name = "rest"
)");
    CHECK(c->edge.listen == std::vector<host_port>{{"127.0.0.1", 8080, "127.0.0.1:8080"},
                                                   {"::1", 8081, "[::1]:8081"},
                                                   {"0.0.0.0", 0, "0.0.0.0:0"}});
    CHECK(c->edge.threads == 8);
    CHECK(c->edge.colo == "LHR");
    CHECK(c->edge.server_header == "edge522 test");
    CHECK_FALSE(c->edge.diagnostics);
    CHECK(c->edge.drain_timeout == 0ms);
    CHECK(c->edge.max_request_header == 65536);
    CHECK(c->edge.max_response_header == 1024 * 1024);
    CHECK(c->edge.max_connections == 10000);
    CHECK(c->edge.access_log ==
          access_log_destination{access_log_destination::kind::file, "/var/log/edge522/access.log"});
    CHECK(c->edge.log_format == "json");
    CHECK(c->edge.log_level == "debug");

    CHECK(c->timeouts.connect == 250ms);
    CHECK(c->timeouts.request_ack == 0ms);
    CHECK(c->timeouts.read == 1500ms);
    CHECK(c->timeouts.write == 2min);
    CHECK(c->timeouts.origin_idle == 0ms);
    CHECK(c->timeouts.client_header == 3s);
    CHECK(c->timeouts.client_idle == 0ms);
    CHECK(c->timeouts.dns == 1h);

    CHECK_FALSE(c->admin.listen.has_value());
    CHECK(c->admin.token == "s3cret-token");
    CHECK(c->chaos.seed == 42);

    REQUIRE(c->origins.size() == 2);
    auto const& o = c->origins[0];
    CHECK(o.name == "api.v2");
    CHECK(o.hosts == std::vector<std::string>{"api.example.test", "*.example.test", "[::1]", "127.0.0.1"});
    CHECK(o.servers == std::vector<host_port>{{"app.internal", 3000, "app.internal:3000"},
                                              {"::1", 3001, "[::1]:3001"},
                                              {"10.0.0.1", 80, "10.0.0.1:80"}});
    CHECK_FALSE(o.failover);
    // Origins inherit the [timeouts] values, even those written after them in the file.
    CHECK(c->origins[1].timeouts.connect == 250ms);
    CHECK(c->origins[1].timeouts.origin_idle == 0ms);
}

TEST_CASE("dotted keys and inline tables are the same as sections", "[config]")
{
    auto c = load_ok(R"(
edge.threads = 3
timeouts = { connect = "2s" }
origins = [ { name = "a", servers = ["127.0.0.1:1"] } ]
)");
    CHECK(c->edge.threads == 3);
    CHECK(c->timeouts.connect == 2s);
    REQUIRE(c->origins.size() == 1);
    CHECK(c->origins[0].timeouts.connect == 2s);
}

// ---------------------------------------------------------------------------------------------
// Per-origin timeouts

TEST_CASE("per-origin timeouts inherit [timeouts] and override it", "[config]")
{
    auto c = load_ok(R"(
[[origins]]
name = "inherits"

[[origins]]
name = "overrides"
connect_timeout = "2s"
request_ack_timeout = "0s"
read_timeout = "300s"
write_timeout = "1m"
origin_idle_timeout = "0s"

[[origins]]
name = "partly"
read_timeout = "5s"

[timeouts]
connect = "5s"
request_ack = "20s"
read = "60s"
write = "10s"
origin_idle = "30s"
)");
    REQUIRE(c->origins.size() == 3);
    auto const& inherits = c->origins[0].timeouts;
    CHECK(inherits.connect == 5s);
    CHECK(inherits.request_ack == 20s);
    CHECK(inherits.read == 60s);
    CHECK(inherits.write == 10s);
    CHECK(inherits.origin_idle == 30s);

    auto const& overrides = c->origins[1].timeouts;
    CHECK(overrides.connect == 2s);
    CHECK(overrides.request_ack == 0ms);
    CHECK(overrides.read == 300s);
    CHECK(overrides.write == 1min);
    CHECK(overrides.origin_idle == 0ms);

    auto const& partly = c->origins[2].timeouts;
    CHECK(partly.connect == 5s);
    CHECK(partly.read == 5s);
    CHECK(partly.write == 10s);

    // [timeouts] itself is untouched by the overrides.
    CHECK(c->timeouts.connect == 5s);
    CHECK(c->timeouts.read == 60s);
}

TEST_CASE("per-origin timeouts follow the same zero rules as [timeouts]", "[config]")
{
    CHECK(error_of(R"(
[[origins]]
name = "app"
connect_timeout = "0s"
)") == R"(edge.toml:3:19: origins[0].connect_timeout: must be > 0, got "0s")");
    CHECK(error_of(R"(
[[origins]]
name = "app"
read_timeout = "0ms"
)") == R"(edge.toml:3:16: origins[0].read_timeout: must be > 0, got "0ms")");
    CHECK(error_of(R"(
[[origins]]
name = "app"
write_timeout = "0s"
)") == R"(edge.toml:3:17: origins[0].write_timeout: must be > 0, got "0s")");
    CHECK(error_of(R"(
[[origins]]
name = "app"
request_ack_timeout = "577h"
)") == R"(edge.toml:3:23: origins[0].request_ack_timeout: "577h" is too large (at most 576h))");
    CHECK(error_of(R"(
[[origins]]
name = "app"
origin_idle_timeout = 30
)") == R"(edge.toml:3:23: origins[0].origin_idle_timeout: 30 has no unit (durations are strings, e.g. "19s" or "250ms"))");
}

// ---------------------------------------------------------------------------------------------
// Zero values and ranges

TEST_CASE("timeouts that must be > 0", "[config]")
{
    for (std::string key : {"connect", "read", "write", "client_header", "dns"}) {
        INFO(key);
        auto toml = "[timeouts]\n" + key + " = \"0s\"\n" + std::string(an_origin);
        CHECK(error_of(toml) == "edge.toml:2:" + std::to_string(key.size() + 4) + ": timeouts." + key +
                                    R"(: must be > 0, got "0s")");
    }
}

TEST_CASE("timeouts where 0 has a meaning", "[config]")
{
    auto c = load_ok(with_origin(R"(
[edge]
drain_timeout = "0s"
[timeouts]
request_ack = "0s"
origin_idle = "0s"
client_idle = "0ms"
)"));
    CHECK(c->edge.drain_timeout == 0ms);
    CHECK(c->timeouts.request_ack == 0ms);
    CHECK(c->timeouts.origin_idle == 0ms);
    CHECK(c->timeouts.client_idle == 0ms);
    CHECK(c->origins[0].timeouts.request_ack == 0ms);
    CHECK(c->origins[0].timeouts.origin_idle == 0ms);
}

TEST_CASE("request_ack fits TCP_USER_TIMEOUT", "[config]")
{
    CHECK(load_ok(with_origin("[timeouts]\nrequest_ack = \"576h\"\n"))->timeouts.request_ack == 576h);
    CHECK(error_of(with_origin("[timeouts]\nrequest_ack = \"600h\"\n")) ==
          R"(edge.toml:2:15: timeouts.request_ack: "600h" is too large (at most 576h))");
}

TEST_CASE("header size limits take integers and unit strings", "[config]")
{
    auto c = load_ok(with_origin("[edge]\nmax_request_header = \"64KB\"\nmax_response_header = 4096\n"));
    CHECK(c->edge.max_request_header == 64000);
    CHECK(c->edge.max_response_header == 4096);

    CHECK(error_of(with_origin("[edge]\nmax_request_header = 0\n")) ==
          "edge.toml:2:22: edge.max_request_header: must be > 0");
    CHECK(error_of(with_origin("[edge]\nmax_request_header = -1\n")) ==
          "edge.toml:2:22: edge.max_request_header: -1 is negative");
    CHECK(error_of(with_origin("[edge]\nmax_response_header = \"1GiB\"\n")) ==
          "edge.toml:2:23: edge.max_response_header: is too large (at most 64MiB)");
    CHECK(
        error_of(with_origin("[edge]\nmax_request_header = \"32\"\n")) ==
        R"(edge.toml:2:22: edge.max_request_header: "32" has no unit (use an integer of bytes or e.g. "32KiB", "1MiB"))");
    CHECK(
        error_of(with_origin("[edge]\nmax_request_header = 1.5\n")) ==
        R"(edge.toml:2:22: edge.max_request_header: expected a size (an integer of bytes or e.g. "32KiB"), got a float)");
}

TEST_CASE("edge and admin and chaos scalars are range-checked", "[config]")
{
    CHECK(load_ok(with_origin("[edge]\nthreads = 1024\n"))->edge.threads == 1024);
    CHECK(error_of(with_origin("[edge]\nthreads = 1025\n")) ==
          "edge.toml:2:11: edge.threads: 1025 is too large (at most 1024)");
    CHECK(error_of(with_origin("[edge]\nthreads = -1\n")) == "edge.toml:2:11: edge.threads: -1 is negative");
    CHECK(load_ok(with_origin("[edge]\ncpu_affinity = \"auto\"\n"))->edge.cpu_affinity == "auto");
    CHECK(error_of(with_origin("[edge]\ncpu_affinity = \"0-1\"\n")) ==
          R"(edge.toml:2:16: edge.cpu_affinity: "0-1" is not one of "off", "auto")");

    for (auto bad : {"lhr", "LH", "LHRX", "L1R", ""}) {
        INFO(bad);
        CHECK(error_of(with_origin("[edge]\ncolo = \"" + std::string(bad) + "\"\n")) ==
              "edge.toml:2:8: edge.colo: \"" + std::string(bad) +
                  R"(" must be 3 uppercase letters A-Z, e.g. "LHR")");
    }

    CHECK(
        error_of(with_origin("[edge]\nserver_header = \"\"\n")) ==
        R"(edge.toml:2:17: edge.server_header: "" must be non-empty printable ASCII (it is sent as the Server header))");
    CHECK(
        error_of(with_origin("[edge]\nserver_header = \"a\\r\\nX-Evil: 1\"\n")) ==
        R"(edge.toml:2:17: edge.server_header: "a\x0d\x0aX-Evil: 1" must be non-empty printable ASCII (it is sent as the Server header))");

    CHECK(load_ok(with_origin("[edge]\naccess_log = \"off\"\n"))->edge.access_log.where ==
          access_log_destination::kind::off);
    CHECK(load_ok(with_origin("[edge]\naccess_log = \"stdout\"\n"))->edge.access_log == access_log_destination{});
    CHECK(load_ok(with_origin("[edge]\naccess_log = \"./access.log\"\n"))->edge.access_log ==
          access_log_destination{access_log_destination::kind::file, "./access.log"});
    for (auto bad : {"", "stderr", "none", "access.log", "/var/log/", "./a\\nb"}) {
        INFO(bad);
        auto const e = error_of(with_origin("[edge]\naccess_log = \"" + std::string(bad) + "\"\n"));
        CHECK(e.starts_with("edge.toml:2:14: edge.access_log: "));
        CHECK(e.ends_with(R"( is not "stdout", "off" or a file path (a path contains a '/', does not end with one and has no control characters, e.g. "./access.log"))"));
    }
    CHECK(error_of(with_origin("[edge]\naccess_log = \"stderr\"\n")) ==
          R"(edge.toml:2:14: edge.access_log: "stderr" is not "stdout", "off" or a file path (a path contains a '/', does not end with one and has no control characters, e.g. "./access.log"))");
    CHECK(error_of(with_origin("[edge]\naccess_log = false\n")).starts_with("edge.toml:2:14: edge.access_log: expected a string"));
    CHECK(error_of(with_origin("[edge]\nlog_format = \"xml\"\n")) ==
          R"(edge.toml:2:14: edge.log_format: "xml" is not one of "text", "json")");
    CHECK(
        error_of(with_origin("[edge]\nlog_level = \"verbose\"\n")) ==
        R"(edge.toml:2:13: edge.log_level: "verbose" is not one of "trace", "debug", "info", "warn", "error", "critical", "off")");
    for (auto level : {"trace", "debug", "info", "warn", "error", "critical", "off"})
        CHECK(load_ok(with_origin("[edge]\nlog_level = \"" + std::string(level) + "\"\n"))->edge.log_level ==
              level);

    CHECK(
        error_of(with_origin("[admin]\ntoken = \"two words\"\n")) ==
        R"(edge.toml:2:9: admin.token: may only contain visible ASCII characters (it is compared with "Authorization: Bearer TOKEN"))");
    CHECK(error_of(with_origin("[chaos]\nseed = -3\n")) == "edge.toml:2:8: chaos.seed: -3 is negative");
}

// ---------------------------------------------------------------------------------------------
// Errors, each with its position

TEST_CASE("a TOML syntax error carries its line and column", "[config][errors]")
{
    auto r = load_string(text_of(R"(
[edge]
threads = 
)"),
                         "edge.toml");
    REQUIRE(r.errors.size() == 1);
    CHECK_FALSE(r.cfg);
    CHECK(r.errors[0].file == "edge.toml");
    CHECK(r.errors[0].line == 2);
    CHECK(r.errors[0].column > 0);
    CHECK(r.errors[0].to_string().starts_with("edge.toml:2:"));

    auto dup = load_string("a = 1\na = 2\n", "edge.toml");
    REQUIRE(dup.errors.size() == 1);
    CHECK(dup.errors[0].line == 2);
}

TEST_CASE("an unknown top-level key is reported where it is written", "[config][errors]")
{
    CHECK(error_of(R"(
[edge]
threads = 2
[tiemouts]
connect = "19s"
[[origins]]
name = "app"
)") == R"(edge.toml:3:1: unknown key "tiemouts")");
    CHECK(error_of(with_origin("listen = [\"127.0.0.1:80\"]\n")) == R"(edge.toml:1:1: unknown key "listen")");
    CHECK(error_of(with_origin("  orgins = 1\n")) == R"(edge.toml:1:3: unknown key "orgins")");
}

TEST_CASE("unknown keys inside every kind of table", "[config][errors]")
{
    CHECK(error_of(with_origin("[edge]\nthread = 2\n")) == R"(edge.toml:2:1: unknown key "edge.thread")");
    CHECK(error_of(with_origin("[timeouts]\n  conect = \"1s\"\n")) ==
          R"(edge.toml:2:3: unknown key "timeouts.conect")");
    CHECK(error_of(with_origin("[access]\nallowed = []\n")) ==
          R"(edge.toml:2:1: unknown key "access.allowed")");
    CHECK(error_of(with_origin("[admin]\nport = 9522\n")) == R"(edge.toml:2:1: unknown key "admin.port")");
    CHECK(error_of(with_origin("[chaos]\nsead = 1\n")) == R"(edge.toml:2:1: unknown key "chaos.sead")");
    CHECK(error_of(with_origin("[edge.extra]\n")) == R"(edge.toml:1:1: unknown key "edge.extra")");
    CHECK(error_of(R"(
[[origins]]
name = "app"
[[origins]]
name = "b"
conect_timeout = "1s"
)") == R"(edge.toml:5:1: unknown key "origins[1].conect_timeout")");
    CHECK(error_of(R"(
[[origins]]
name = "app"
access = { allow = [], blok = [] }
)") == R"(edge.toml:3:24: unknown key "origins[0].access.blok")");

    // A fault's typo is an unknown key, like any other.
    auto errors = errors_of(R"(
[[origins]]
name = "app"
[[origins.faults]]
type = "blackhole"
propability = 0.5
schedule = { up = "1s", dwn = "1s" }
)");
    CHECK(
        errors ==
        std::vector<std::string>{
            R"(edge.toml:5:1: unknown key "origins[0].faults[0].propability")",
            R"(edge.toml:6:12: origins[0].faults[0].schedule: needs both up and down, e.g. { up = "30s", down = "10s" }, or {} for always on)",
            R"(edge.toml:6:25: unknown key "origins[0].faults[0].schedule.dwn")",
        });
}

TEST_CASE("wrong types are reported at the value", "[config][errors]")
{
    CHECK(error_of(with_origin("[edge]\nthreads = \"4\"\n")) ==
          R"(edge.toml:2:11: edge.threads: expected an integer, got a string)");
    CHECK(error_of(with_origin("[edge]\ndiagnostics = \"yes\"\n")) ==
          R"(edge.toml:2:15: edge.diagnostics: expected true or false, got a string)");
    CHECK(error_of(with_origin("[edge]\nlisten = \"127.0.0.1:8080\"\n")) ==
          R"(edge.toml:2:10: edge.listen: expected an array, got a string)");
    CHECK(error_of(with_origin("[edge]\nlisten = [8080]\n")) ==
          R"(edge.toml:2:11: edge.listen[0]: expected a string, got an integer)");
    CHECK(error_of(with_origin("[edge]\ncolo = 1979-05-27\n")) ==
          R"(edge.toml:2:8: edge.colo: expected a string, got a date)");
    CHECK(error_of(with_origin("edge = 5\n")) == R"(edge.toml:1:8: edge: expected a table, got an integer)");
    CHECK(error_of(with_origin("[admin]\nlisten = 9522\n")) ==
          R"(edge.toml:2:10: admin.listen: expected a string, got an integer)");
    CHECK(error_of(with_origin("[timeouts]\nread = true\n")) ==
          R"(edge.toml:2:8: timeouts.read: expected a duration string such as "19s", got a boolean)");
    CHECK(
        error_of(with_origin("[timeouts]\nread = 1.5\n")) ==
        R"(edge.toml:2:8: timeouts.read: a number has no unit (durations are strings, e.g. "1.5s" or "250ms"))");
    CHECK(error_of("[origins]\nname = \"app\"\n") ==
          R"(edge.toml:1:1: origins: expected an array of tables ([[origins]]), got a table)");
    CHECK(error_of("origins = [\"app\"]\n") ==
          R"(edge.toml:1:12: origins[0]: expected a table, got a string)");
    CHECK(error_of(R"(
[[origins]]
name = "app"
failover = "yes"
)") == R"(edge.toml:3:12: origins[0].failover: expected true or false, got a string)");
    CHECK(error_of(R"(
[[origins]]
name = "app"
servers = "127.0.0.1:3000"
)") == R"(edge.toml:3:11: origins[0].servers: expected an array, got a string)");
}

TEST_CASE("duration errors are reported at the value", "[config][errors]")
{
    CHECK(error_of(R"(
[edge]
threads = 2

[[origins]]
name = "app"
[timeouts]
connect = "19"
)") == R"(edge.toml:7:11: timeouts.connect: "19" has no unit (use e.g. "19s" or "250ms"))");
    CHECK(error_of(with_origin("[timeouts]\nread = \"-1s\"\n")) ==
          R"(edge.toml:2:8: timeouts.read: "-1s" is negative)");
    CHECK(error_of(with_origin("[timeouts]\nread = \"5y\"\n")) ==
          R"(edge.toml:2:8: timeouts.read: "5y" has an unknown unit "y" (use ms, s, m or h))");
    CHECK(error_of(with_origin("[timeouts]\nread = \"\"\n")) ==
          R"(edge.toml:2:8: timeouts.read: empty duration (use e.g. "19s" or "250ms"))");
    CHECK(error_of(with_origin("[timeouts]\nread = \"9999h\"\n")) ==
          R"(edge.toml:2:8: timeouts.read: "9999h" is too large (at most 8760h))");
    CHECK(error_of(with_origin("[edge]\ndrain_timeout = \"10\"\n")) ==
          R"(edge.toml:2:17: edge.drain_timeout: "10" has no unit (use e.g. "19s" or "250ms"))");
}

TEST_CASE("duplicate origin names point at both definitions", "[config][errors]")
{
    CHECK(error_of(R"(
[edge]
threads = 2

[[origins]]
name = "app"
servers = ["127.0.0.1:3000"]

[[origins]]
# the second one
servers = ["127.0.0.1:3001"]
hosts = ["b.test"]
name = "app"
)") == R"(edge.toml:12:8: origins[1].name: duplicate origin name "app" (first defined at 5:8))");
}

TEST_CASE("there must be at least one origin and each needs a name", "[config][errors]")
{
    auto r = load_string("[edge]\nthreads = 1\n", "edge.toml");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].line == 0);
    CHECK(
        r.errors[0].to_string() ==
        R"(edge.toml: no [[origins]] defined: add at least one, e.g. [[origins]] name = "app" servers = ["127.0.0.1:3000"])");
    CHECK(
        error_of("") ==
        R"(edge.toml: no [[origins]] defined: add at least one, e.g. [[origins]] name = "app" servers = ["127.0.0.1:3000"])");
    CHECK(error_of("origins = []\n") == "edge.toml:1:11: origins: must list at least one origin");

    CHECK(error_of(R"(
[[origins]]
name = "app"
  [[origins]]
  servers = ["127.0.0.1:3001"]
)") == R"(edge.toml:3:3: origins[1]: missing name (every origin needs a unique one, e.g. name = "app"))");
    CHECK(error_of("[[origins]]\nname = \"\"\n") == "edge.toml:2:8: origins[0].name: must not be empty");
    CHECK(
        error_of("[[origins]]\nname = \"my app\"\n") ==
        R"(edge.toml:2:8: origins[0].name: "my app" may only contain letters, digits, '.', '_' and '-' (it appears in admin URLs and metric labels))");
}

TEST_CASE("origin servers", "[config][errors]")
{
    CHECK(error_of("[[origins]]\nname = \"app\"\nservers = []\n") ==
          R"(edge.toml:3:11: origins[0].servers: must list at least one server, e.g. ["127.0.0.1:3000"])");
    CHECK(error_of("[[origins]]\nname = \"app\"\nservers = [\"127.0.0.1:3000\", \"db:0\"]\n") ==
          R"(edge.toml:3:30: origins[0].servers[1]: "db:0": port 0 is not valid for an origin server)");
    CHECK(
        error_of("[[origins]]\nname = \"app\"\nservers = [\"127.0.0.1\"]\n") ==
        R"(edge.toml:3:12: origins[0].servers[0]: "127.0.0.1" has no port (use host:port, e.g. "127.0.0.1:8080"))");
    CHECK(
        error_of("[[origins]]\nname = \"app\"\nservers = [\"::1:3000\"]\n") ==
        R"(edge.toml:3:12: origins[0].servers[0]: "::1:3000": IPv6 addresses need brackets, e.g. "[::1]:8080")");
}

TEST_CASE("host patterns are validated and lowercased", "[config][errors]")
{
    auto c = load_ok("[[origins]]\nname = \"app\"\nhosts = [\"WWW.Example.Test\", \"*.Example.Test\", \"*\", "
                     "\"my_host\"]\n");
    CHECK(c->origins[0].hosts ==
          std::vector<std::string>{"www.example.test", "*.example.test", "*", "my_host"});

    for (auto bad : {"a.*.test", "*example.test", "*.", "example.test:8080", "", "a..b", ".a", "a b", "**",
                     "[1.2.3.4]"}) {
        INFO(bad);
        CHECK(
            error_of("[[origins]]\nname = \"app\"\nhosts = [\"" + std::string(bad) + "\"]\n") ==
            "edge.toml:3:10: origins[0].hosts[0]: \"" + std::string(bad) +
                R"(" is not a host pattern (use an exact host such as "app.example.test", "*.example.test" or "*"; no port))");
    }
    CHECK(
        error_of("[[origins]]\nname = \"app\"\nhosts = []\n") ==
        R"(edge.toml:3:9: origins[0].hosts: must list at least one host pattern (use ["*"] for every host))");
}

TEST_CASE("listen addresses are IP literals with IPv6 in brackets", "[config][errors]")
{
    auto c = load_ok(with_origin(R"(
[edge]
listen = ["[::1]:8080", "[::]:0", "[fe80::1%lo]:8081", "0.0.0.0:8082"]
[admin]
listen = "[::1]:9522"
)"));
    REQUIRE(c->edge.listen.size() == 4);
    CHECK(c->edge.listen[0] == host_port{"::1", 8080, "[::1]:8080"});
    CHECK(c->edge.listen[1] == host_port{"::", 0, "[::]:0"});
    CHECK(c->edge.listen[2] == host_port{"fe80::1%lo", 8081, "[fe80::1%lo]:8081"});
    CHECK(c->edge.listen[3] == host_port{"0.0.0.0", 8082, "0.0.0.0:8082"});
    REQUIRE(c->admin.listen.has_value());
    CHECK(*c->admin.listen == host_port{"::1", 9522, "[::1]:9522"});

    CHECK(
        error_of(with_origin("[edge]\nlisten = [\"localhost:8080\"]\n")) ==
        R"(edge.toml:2:11: edge.listen[0]: "localhost:8080" is not an IP address and port (listeners bind to IP literals, e.g. "127.0.0.1:8080" or "[::1]:8080"))");
    CHECK(error_of(with_origin("[edge]\nlisten = [\"::1:8080\"]\n")) ==
          R"(edge.toml:2:11: edge.listen[0]: "::1:8080": IPv6 addresses need brackets, e.g. "[::1]:8080")");
    CHECK(error_of(with_origin("[edge]\nlisten = [\"[::1]\"]\n")) ==
          R"(edge.toml:2:11: edge.listen[0]: "[::1]" has no port (use e.g. "[::1]:8080"))");
    CHECK(error_of(with_origin("[edge]\nlisten = []\n")) ==
          R"(edge.toml:2:10: edge.listen: must list at least one address, e.g. ["127.0.0.1:8080"])");
    CHECK(
        error_of(with_origin("[admin]\nlisten = \"admin.local:9522\"\n")) ==
        R"(edge.toml:2:10: admin.listen: "admin.local:9522" is not an IP address and port (listeners bind to IP literals, e.g. "127.0.0.1:8080" or "[::1]:8080"))");
}

TEST_CASE("listeners may not bind the same address twice", "[config][errors]")
{
    // Port 0 lets the kernel pick, so repeats are fine.
    CHECK(load_ok(with_origin(
        "[edge]\nlisten = [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n")));

    CHECK(error_of(with_origin("[edge]\nlisten = [\"127.0.0.1:8080\", \"127.0.0.1:8080\"]\n")) ==
          R"(edge.toml:2:29: edge.listen[1]: "127.0.0.1:8080" is already used by edge.listen[0] (2:11))");
    CHECK(error_of(with_origin("[edge]\nlisten = [\"[::1]:8080\", \"[0:0::1]:8080\"]\n")) ==
          R"(edge.toml:2:25: edge.listen[1]: "[0:0::1]:8080" is already used by edge.listen[0] (2:11))");
    CHECK(
        error_of(with_origin("[edge]\nlisten = [\"0.0.0.0:8080\", \"127.0.0.1:8080\"]\n")) ==
        R"(edge.toml:2:27: edge.listen[1]: "127.0.0.1:8080" overlaps edge.listen[0] "0.0.0.0:8080" (2:11))");
    // Defaults take part too: they would collide at startup just the same.
    CHECK(error_of(with_origin("[edge]\nlisten = [\"127.0.0.1:9522\"]\n")) ==
          R"(edge.toml:2:11: edge.listen[0]: "127.0.0.1:9522" is already used by the default admin.listen)");
    CHECK(error_of(with_origin("[admin]\nlisten = \"127.0.0.1:8080\"\n")) ==
          R"(edge.toml:2:10: admin.listen: "127.0.0.1:8080" is already used by the default edge.listen)");
    CHECK(load_ok(with_origin("[edge]\nlisten = [\"127.0.0.1:9522\"]\n[admin]\nlisten = \"\"\n")));
    CHECK(error_of(
              with_origin("[edge]\nlisten = [\"127.0.0.1:9000\"]\n[admin]\nlisten = \"127.0.0.1:9000\"\n")) ==
          R"(edge.toml:4:10: admin.listen: "127.0.0.1:9000" is already used by edge.listen[0] (2:11))");
    // Different families never collide here (IPV6_V6ONLY is the proxy's business).
    CHECK(load_ok(with_origin("[edge]\nlisten = [\"0.0.0.0:8080\", \"[::1]:8080\"]\n")));
}

TEST_CASE("every error is collected in one pass and reported in file order", "[config][errors]")
{
    auto errors = errors_of(R"(
[edge]
threads = "many"
colo = "lhr"
tls = true
[timeouts]
connect = "19"
read = "0s"
[[origins]]
name = "app"
servers = []
[[origins]]
name = "app"
hosts = ["a.*.b"]
)");
    CHECK(
        errors ==
        std::vector<std::string>{
            R"(edge.toml:2:11: edge.threads: expected an integer, got a string)",
            R"(edge.toml:3:8: edge.colo: "lhr" must be 3 uppercase letters A-Z, e.g. "LHR")",
            R"(edge.toml:4:1: unknown key "edge.tls")",
            R"(edge.toml:6:11: timeouts.connect: "19" has no unit (use e.g. "19s" or "250ms"))",
            R"(edge.toml:7:8: timeouts.read: must be > 0, got "0s")",
            R"(edge.toml:10:11: origins[0].servers: must list at least one server, e.g. ["127.0.0.1:3000"])",
            R"(edge.toml:12:8: origins[1].name: duplicate origin name "app" (first defined at 9:8))",
            R"(edge.toml:13:10: origins[1].hosts[0]: "a.*.b" is not a host pattern (use an exact host such as "app.example.test", "*.example.test" or "*"; no port))",
        });

    // Positionless errors come first.
    auto missing = errors_of("[edge]\nthreads = -1\n");
    REQUIRE(missing.size() == 2);
    CHECK(missing[0].starts_with("edge.toml: no [[origins]] defined"));
    CHECK(missing[1] == "edge.toml:2:11: edge.threads: -1 is negative");
}

// ---------------------------------------------------------------------------------------------
// TLS keys

TEST_CASE("TLS keys are read and checked where they are written", "[config][tls]")
{
    auto const dir = std::filesystem::temp_directory_path() / ("edge522-config-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto const pem = (dir / "x.pem").string();
    std::ofstream(pem) << "not checked here: proxy/tls.cpp loads it\n";
    auto c = load_ok("[edge]\nlisten_tls = [\"127.0.0.1:8443\"]\ncert = \"" + pem + "\"\nkey = \"" + pem +
                     "\"\n[[edge.certs]]\nhosts = [\"A.test\", \"*.b.test\"]\ncert = \"" + pem + "\"\nkey = \"" + pem +
                     "\"\n[timeouts]\ntls_handshake = \"3s\"\n[[origins]]\nname = \"app\"\ntls = true\n"
                     "tls_verify = \"strict\"\ntls_sni = \"App.Test\"\ntls_ca = \"" + pem + "\"\n");
    CHECK(c->edge.listen_tls.size() == 1);
    CHECK(c->edge.cert == pem);
    REQUIRE(c->edge.certs.size() == 1);
    CHECK(c->edge.certs[0].hosts == std::vector<std::string>{"a.test", "*.b.test"});
    CHECK(c->timeouts.tls_handshake == 3s);
    CHECK(c->origins[0].tls);
    CHECK(c->origins[0].verify == tls_verify::strict);
    CHECK(c->origins[0].tls_sni == "app.test");
    CHECK(c->origins[0].tls_ca == pem);

    CHECK(error_of(with_origin("[edge]\ncert = \"/nonexistent/c.pem\"\n")) ==
          R"(edge.toml:2:8: edge.cert: cannot read "/nonexistent/c.pem": No such file or directory)");
    CHECK(error_of(with_origin("[edge]\ncert = \"" + pem + "\"\n")) ==
          "edge.toml:1:1: edge: cert and key go together (both PEM files, or neither for a generated localhost certificate)");
    CHECK(error_of("[[origins]]\nname = \"app\"\ntls_sni = \"a.test\"\n") ==
          "edge.toml:3:1: origins[0].tls_sni has no effect without tls = true (HTTPS to this origin)");
    CHECK(error_of("[[origins]]\nname = \"app\"\ntls_verify = \"strict\"\n") ==
          "edge.toml:3:1: origins[0].tls_verify has no effect without tls = true (HTTPS to this origin)");
    CHECK(error_of("[[origins]]\nname = \"app\"\ntls = true\ntls_sni = \"a.test:443\"\n") ==
          R"(edge.toml:4:11: origins[0].tls_sni: "a.test:443" is not a host name (SNI names the origin's host, without port))");
    auto const certs = errors_of(with_origin("[edge]\ncert = \"" + pem + "\"\nkey = \"" + pem +
                                             "\"\n[[edge.certs]]\nhosts = [\"a.test\"]\n"));
    CHECK(certs == std::vector<std::string>{"edge.toml:4:1: edge.certs[0]: needs hosts (non-empty), cert and key"});
    std::filesystem::remove_all(dir);
}

TEST_CASE("faults and the chaos header are read into the config", "[config][faults]")
{
    auto c = load_ok(R"(
[chaos]
seed = 7
header = "x-edge522-fault"
[[origins]]
name = "app"
[[origins.faults]]
type = "refuse"
[[origins.faults]]
type = "response_delay"
probability = 0.25
path_prefix = "/api"
delay = "2s"
jitter = "100ms"
schedule = { up = "30s", down = "10s" }
)");
    CHECK(c->chaos.header == "x-edge522-fault");
    REQUIRE(c->origins[0].faults.size() == 2);
    auto const& a = c->origins[0].faults[0];
    CHECK(a.type == fault_type::refuse);
    CHECK(a.probability == 1.0);
    CHECK(a.path_prefix == "/");
    CHECK_FALSE(a.scheduled());
    auto const& b = c->origins[0].faults[1];
    CHECK(b.type == fault_type::response_delay);
    CHECK(b.probability == 0.25);
    CHECK(b.path_prefix == "/api");
    CHECK(b.delay == 2000ms);
    CHECK(b.jitter == 100ms);
    CHECK(b.up == 30s);
    CHECK(b.down == 10s);
    CHECK(b.scheduled());

    auto inline_faults = load_ok(R"(
[[origins]]
name = "app"
faults = [ { type = "blackhole", probability = 1, path_prefix = "/", delay = "0ms", jitter = "0ms", schedule = {} } ]
)");
    REQUIRE(inline_faults->origins[0].faults.size() == 1);
    CHECK(inline_faults->origins[0].faults[0].type == fault_type::blackhole);

    auto tls_faults = load_ok("[[origins]]\nname = \"app\"\n[[origins.faults]]\ntype = \"tls_fail\"\n"
                              "[[origins.faults]]\ntype = \"bad_cert\"\n");
    CHECK(tls_faults->origins[0].faults[0].type == fault_type::tls_fail);
    CHECK(tls_faults->origins[0].faults[1].type == fault_type::bad_cert);
}

TEST_CASE("every optional key at its default is accepted", "[config]")
{
    auto c = load_ok(R"(
[edge]
egress = []
listen_tls = []
cert = ""
key = ""
[access]
allow = []
block = []
[chaos]
seed = 1234
header = ""
[[origins]]
name = "app"
tls = false
tls_verify = "full"
tls_sni = ""
tls_ca = ""
access = { allow = [], block = [] }
egress = []
firewall_allow = []
firewall_action = "drop"
faults = []
)");
    CHECK(c->chaos.seed == 1234);
}

TEST_CASE("TLS and firewall keys are checked for their type and syntax", "[config]")
{
    CHECK(error_of("[[origins]]\nname = \"app\"\ntls = \"yes\"\n") ==
          "edge.toml:3:7: origins[0].tls: expected true or false, got a string");
    CHECK(error_of("[[origins]]\nname = \"app\"\ntls_verify = \"none\"\n") ==
          R"(edge.toml:3:14: origins[0].tls_verify: "none" is not one of "full", "strict")");
    CHECK(error_of("[[origins]]\nname = \"app\"\nfirewall_action = \"ignore\"\n") ==
          R"(edge.toml:3:19: origins[0].firewall_action: "ignore" is not one of "drop", "reject")");
    CHECK(error_of(with_origin("[chaos]\nheader = \"x fault\"\n")) ==
          R"(edge.toml:2:10: chaos.header: "x fault" is not a valid header name)");

    auto faults = errors_of(R"(
[[origins]]
name = "app"
[[origins.faults]]
type = "meteor"
probability = 1.5
path_prefix = "api"
delay = "5"
[[origins.faults]]
probability = 0.5
)");
    CHECK(
        faults ==
        std::vector<std::string>{
            R"(edge.toml:4:8: origins[0].faults[0].type: "meteor" is not a fault type (blackhole syn_loss connect_delay refuse unreachable dns_fail response_delay no_ack reset empty garbage tls_fail bad_cert; see SPEC section 5))",
            "edge.toml:5:15: origins[0].faults[0].probability: must be from 0 to 1",
            R"(edge.toml:6:15: origins[0].faults[0].path_prefix: "api" must start with "/")",
            R"(edge.toml:7:9: origins[0].faults[0].delay: "5" has no unit (use e.g. "19s" or "250ms"))",
            R"(edge.toml:8:1: origins[0].faults[1]: missing type, e.g. type = "blackhole")",
        });
}

// ---------------------------------------------------------------------------------------------
// host:port

TEST_CASE("parse_host_port reads IPv4 and bracketed IPv6 and names", "[config][host_port]")
{
    std::string error;
    CHECK(parse_host_port("127.0.0.1:8080", error) == host_port{"127.0.0.1", 8080, "127.0.0.1:8080"});
    CHECK(parse_host_port("[::1]:8080", error) == host_port{"::1", 8080, "[::1]:8080"});
    CHECK(parse_host_port("[::]:0", error) == host_port{"::", 0, "[::]:0"});
    CHECK(parse_host_port("[2001:db8::1]:65535", error) ==
          host_port{"2001:db8::1", 65535, "[2001:db8::1]:65535"});
    CHECK(parse_host_port("[::ffff:127.0.0.1]:80", error) ==
          host_port{"::ffff:127.0.0.1", 80, "[::ffff:127.0.0.1]:80"});
    CHECK(parse_host_port("[fe80::1%eth0]:80", error) == host_port{"fe80::1%eth0", 80, "[fe80::1%eth0]:80"});
    CHECK(parse_host_port("localhost:3000", error) == host_port{"localhost", 3000, "localhost:3000"});
    CHECK(parse_host_port("app.internal:3000", error) ==
          host_port{"app.internal", 3000, "app.internal:3000"});
    CHECK(parse_host_port("my_service-1.svc:1", error) ==
          host_port{"my_service-1.svc", 1, "my_service-1.svc:1"});
    CHECK(error.empty());
}

TEST_CASE("parse_host_port explains what is wrong", "[config][host_port]")
{
    auto error_for = [](std::string_view text) {
        std::string error;
        CHECK_FALSE(parse_host_port(text, error).has_value());
        return error;
    };
    CHECK(error_for("") == R"(empty address (use host:port, e.g. "127.0.0.1:8080"))");
    CHECK(error_for("127.0.0.1") == R"("127.0.0.1" has no port (use host:port, e.g. "127.0.0.1:8080"))");
    CHECK(error_for("::1") == R"("::1": IPv6 addresses need brackets, e.g. "[::1]:8080")");
    CHECK(error_for("::1:80") == R"("::1:80": IPv6 addresses need brackets, e.g. "[::1]:8080")");
    CHECK(error_for("[::1]") == R"("[::1]" has no port (use e.g. "[::1]:8080"))");
    CHECK(error_for("[::1]8080") == R"("[::1]8080" is malformed: expected ':' and a port after ']')");
    CHECK(error_for("[::1:8080") == R"("[::1:8080" has no closing ']')");
    CHECK(error_for("[127.0.0.1]:80") ==
          R"("[127.0.0.1]:80": "127.0.0.1" is not an IPv6 address (brackets are only for IPv6))");
    CHECK(error_for("[fe80::1%]:80") ==
          R"("[fe80::1%]:80": "fe80::1%" is not an IPv6 address (brackets are only for IPv6))");
    CHECK(error_for(":8080") ==
          R"(":8080" has no host (use "0.0.0.0:PORT" or "[::]:PORT" for every interface))");
    CHECK(error_for("127.0.0.1:") == R"("127.0.0.1:" has no port number)");
    CHECK(error_for("127.0.0.1:http") == R"("127.0.0.1:http": port "http" is not a number)");
    CHECK(error_for("127.0.0.1:-1") == R"("127.0.0.1:-1": port "-1" is not a number)");
    CHECK(error_for("127.0.0.1:123456") == R"("127.0.0.1:123456": port "123456" is not a number)");
    CHECK(error_for("127.0.0.1:65536") == R"("127.0.0.1:65536": port 65536 is out of range (0-65535))");
    CHECK(error_for("999.0.0.1:80") == R"("999.0.0.1:80": "999.0.0.1" is not an IPv4 address)");
    CHECK(error_for("bad host:80") == R"("bad host:80": "bad host" is not a valid host name or IP address)");
    CHECK(error_for("a..b:80") == R"("a..b:80": "a..b" is not a valid host name or IP address)");
    CHECK(error_for("http://a:80") == R"("http://a:80": IPv6 addresses need brackets, e.g. "[::1]:8080")");
}

// ---------------------------------------------------------------------------------------------
// Files and formatting

TEST_CASE("load_file reads a file and names it in errors", "[config][file]")
{
    auto dir = std::filesystem::temp_directory_path() / ("edge522-test-config-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto good = (dir / "good.toml").string();
    auto bad = (dir / "bad.toml").string();
    std::ofstream(good) << "[[origins]]\nname = \"app\"\nservers = [\"127.0.0.1:4000\"]\n";
    std::ofstream(bad) << "[[origins]]\nname = \"app\"\nservers = [\"127.0.0.1\"]\n";

    auto ok = load_file(good);
    INFO(joined(ok.errors));
    REQUIRE(ok.cfg);
    CHECK(ok.cfg->source == good);
    CHECK(ok.cfg->origins[0].servers[0].port == 4000);

    auto r = load_file(bad);
    REQUIRE(r.errors.size() == 1);
    CHECK(
        r.errors[0].to_string() ==
        bad +
            R"(:3:12: origins[0].servers[0]: "127.0.0.1" has no port (use host:port, e.g. "127.0.0.1:8080"))");

    std::filesystem::remove_all(dir);
}

TEST_CASE("a file that cannot be read is one positionless error", "[config][file]")
{
    auto missing = load_file("/nonexistent/edge522.toml");
    CHECK_FALSE(missing.cfg);
    REQUIRE(missing.errors.size() == 1);
    CHECK(missing.errors[0].line == 0);
    CHECK(missing.errors[0].to_string() ==
          "/nonexistent/edge522.toml: cannot read: No such file or directory");

    auto directory = load_file(std::filesystem::temp_directory_path().string());
    REQUIRE(directory.errors.size() == 1);
    CHECK(directory.errors[0].message == "cannot read: Is a directory");
}

TEST_CASE("config_error::to_string", "[config]")
{
    CHECK((config_error{"edge.toml", 7, 11, "boom"}).to_string() == "edge.toml:7:11: boom");
    CHECK((config_error{"edge.toml", 0, 0, "cannot read: x"}).to_string() == "edge.toml: cannot read: x");
}

// ---------------------------------------------------------------------------------------------
// Access rules, egress and origin-firewall emulation

TEST_CASE("access rules parse into prefixes; bad rules are errors at their position", "[config][access]")
{
    auto c = load_ok(with_origin(R"([access]
allow = ["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"]
block = ["0.0.0.0/0", "::/0"]
)"));
    REQUIRE(c->access.allow.size() == 3);
    CHECK(c->access.allow[0].prefix == 32);
    CHECK(c->access.allow[1].prefix == 8);
    CHECK(c->access.allow[2].v6);
    CHECK(c->access.allow[2].prefix == 32);
    CHECK(c->access.block.size() == 2);
    CHECK(c->origins[0].access == std::nullopt);  // absent = inherit

    CHECK(error_of(with_origin("[access]\nblock = [\"10.0.0.0/33\"]\n")) ==
          R"(edge.toml:2:10: access.block[0]: "/33" is not a prefix length (0 to 32 for IPv4))");
    CHECK(error_of(with_origin("[access]\nblock = [\"::g\"]\n")) ==
          R"(edge.toml:2:10: access.block[0]: "::g" is not an IPv6 address)");
    CHECK(error_of(with_origin("[access]\nallow = [\"10.0.0.1/8\"]\n")) ==
          R"(edge.toml:2:10: access.allow[0]: "10.0.0.1/8" has host bits set (the network is 10.0.0.0/8; for one address write it without a prefix))");
    CHECK(error_of(with_origin("[access]\nallow = [\"2001:db8::1/32\"]\n")).find("has host bits set") != std::string::npos);
    CHECK(error_of(with_origin("[access]\nallow = [\"example.com\"]\n")) ==
          R"(edge.toml:2:10: access.allow[0]: "example.com" is not an IP address)");
}

TEST_CASE("per-origin access, egress and firewall", "[config][access]")
{
    auto c = load_ok(R"(
[edge]
egress = ["127.0.0.2", "127.0.0.3"]
[[origins]]
name = "app"
access = { allow = ["127.0.0.5"], block = ["127.0.0.0/8"] }
egress = ["127.0.0.4"]
firewall_allow = ["127.0.0.2/32", "::1"]
firewall_action = "reject"
[[origins]]
name = "other"
)");
    CHECK(c->edge.egress == std::vector<std::string>{"127.0.0.2", "127.0.0.3"});
    auto const& o = c->origins[0];
    REQUIRE(o.access);
    CHECK(o.access->allow.size() == 1);
    CHECK(o.access->block.size() == 1);
    REQUIRE(o.egress);
    CHECK(*o.egress == std::vector<std::string>{"127.0.0.4"});
    CHECK(o.firewall_allow.size() == 2);
    CHECK(o.firewall == edge522::config::firewall_action::reject);
    CHECK_FALSE(c->origins[1].egress);
    CHECK(c->origins[1].firewall == edge522::config::firewall_action::drop);
    CHECK(error_of(with_origin("[edge]\negress = [\"eth0\"]\n")) ==
          R"(edge.toml:2:11: edge.egress[0]: "eth0" is not an IP address)");
}

TEST_CASE("cidr::contains", "[config][access]")
{
    std::string e;
    auto net = edge522::config::parse_cidr("192.168.4.0/22", e);
    REQUIRE(net);
    std::uint8_t in[4] = {192, 168, 7, 255}, out[4] = {192, 168, 8, 0};
    CHECK(net->contains(in, false));
    CHECK_FALSE(net->contains(out, false));
    auto all = edge522::config::parse_cidr("0.0.0.0/0", e);
    CHECK(all->contains(out, false));
    CHECK_FALSE(all->contains(out, true));  // another family never matches
}

TEST_CASE("text_prefix never ends inside a UTF-8 sequence", "[config]")
{
    CHECK(text_prefix("short", 64) == "short");
    std::string const a63 = std::string(63, 'a');
    CHECK(text_prefix(a63 + "\xc3\xa9" + "z", 64) == a63);            // 2-byte sequence cut at byte 64
    CHECK(text_prefix(a63 + "b\xc3\xa9", 64) == a63 + "b");           // a whole character fits
    CHECK(text_prefix("\xe2\x82\xac\xe2\x82\xac", 4) == "\xe2\x82\xac");  // 3-byte sequences
    CHECK(text_prefix("\xf0\x9f\x98\x80", 3).empty());                   // 4-byte, none fits
}

TEST_CASE("parse_decimal takes finite decimal numbers only", "[config]")
{
    CHECK(parse_decimal("0.25") == 0.25);
    CHECK(parse_decimal("1") == 1.0);
    CHECK(parse_decimal("1e-3") == 0.001);
    for (char const* bad : {"", " 1", "1 ", "0x1", "nan", "inf", "-inf", "1.0x", "+", ".", "1e999"})
        CHECK_FALSE(parse_decimal(bad));
}
