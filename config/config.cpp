#include "config/config.hpp"

#include <toml++/toml.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <utility>

namespace edge522::config {

namespace {

// Section 5 of SPEC.md, in the order of enum class fault_type.
constexpr std::array<std::string_view, 13> fault_types{
    "blackhole", "syn_loss", "connect_delay", "refuse",  "unreachable", "dns_fail", "response_delay",
    "no_ack",    "reset",    "empty",         "garbage", "tls_fail",    "bad_cert",
};

// Beast's header_limit() takes a 32-bit value, and a head this large is already a memory hazard
// with thousands of connections.
constexpr std::uint64_t max_header_limit = 64ull * 1024 * 1024;
constexpr char const* max_header_limit_text = "64MiB";

// TCP_USER_TIMEOUT takes an int of milliseconds; 24 days stays below INT_MAX.
constexpr duration max_request_ack = std::chrono::hours{576};

constexpr std::uint64_t max_threads = 1024;

// ---------------------------------------------------------------------------------------------
// Small text helpers

struct position {
    int line = 0;
    int column = 0;
};

position begin_of(toml::source_region const& region)
{
    return {static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
}

bool before(position a, position b)
{
    return a.line < b.line || (a.line == b.line && a.column < b.column);
}

std::string position_text(position p)
{
    return std::to_string(p.line) + ":" + std::to_string(p.column);
}

// Where a key is written: the name for `threads = 1`, the '[' of a `[edge]` or `[[origins]]`
// header. toml++ starts a header table's region at the '[' but its key's region at the name.
position key_position(toml::key const& key, toml::node const& value)
{
    auto k = begin_of(key.source());
    auto v = begin_of(value.source());
    if (k.line == 0)
        return v;
    if (v.line == 0)
        return k;
    return before(v, k) ? v : k;
}

std::string quote(std::string_view text)
{
    std::string out = "\"";
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 0xf];
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

std::string type_name(toml::node const& node)
{
    switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::none: break;
    }
    return "nothing";
}

std::string index_path(std::string const& path, std::size_t i)
{
    return path + "[" + std::to_string(i) + "]";
}

bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ---------------------------------------------------------------------------------------------
// Addresses

struct ip_address {
    int family = 0; // AF_INET or AF_INET6
    std::array<unsigned char, 16> bytes{};

    bool is_unspecified() const
    {
        auto n = family == AF_INET ? 4u : 16u;
        return std::all_of(bytes.begin(), bytes.begin() + n, [](unsigned char b) { return b == 0; });
    }
    bool operator==(ip_address const&) const = default;
};

// An IPv4 or IPv6 literal; IPv6 may carry a "%zone" for link-local addresses.
std::optional<ip_address> parse_ip(std::string_view text, bool allow_zone = true)
{
    ip_address ip;
    std::string s(text);
    if (s.find(':') != std::string::npos) {
        auto percent = s.find('%');
        if (percent != std::string::npos) {
            auto zone = std::string_view(s).substr(percent + 1);
            bool zone_ok = allow_zone && !zone.empty() && std::all_of(zone.begin(), zone.end(), [](char c) {
                               return is_alnum(c) || c == '_' || c == '-' || c == '.';
                           });
            if (!zone_ok)
                return std::nullopt;
            s.resize(percent);
        }
        if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1)
            return std::nullopt;
        ip.family = AF_INET6;
        return ip;
    }
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) != 1)
        return std::nullopt;
    ip.family = AF_INET;
    return ip;
}

// RFC 1123 host names, plus '_' which real internal names carry.
bool is_host_name(std::string_view name)
{
    if (name.empty() || name.size() > 253)
        return false;
    std::size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (is_alnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label != 0;
}

bool looks_like_ipv4(std::string_view host)
{
    return std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// Lowercases `pattern`; true when it is "*", "*.suffix", an exact host name or a bracketed IPv6.
bool normalize_host_pattern(std::string& pattern)
{
    std::transform(pattern.begin(), pattern.end(), pattern.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
    std::string_view p = pattern;
    if (p == "*")
        return true;
    if (p.starts_with("*."))
        return is_host_name(p.substr(2));
    if (p.size() > 2 && p.front() == '[' && p.back() == ']') {
        auto ip = parse_ip(p.substr(1, p.size() - 2), false);
        return ip && ip->family == AF_INET6;
    }
    if (looks_like_ipv4(p))
        return parse_ip(p).has_value();
    return is_host_name(p);
}

// ---------------------------------------------------------------------------------------------
// The walk: one pass over the parsed table, collecting every error, then a cross-check pass.

class loader {
public:
    explicit loader(std::string file) : file_(std::move(file)) { cfg_.source = file_; }

    load_result run(toml::table const& root)
    {
        walk(root, "",
             {
                 {"edge", [this](auto const& n, auto const& p) { return section(n, p, &loader::read_edge); }},
                 {"timeouts",
                  [this](auto const& n, auto const& p) { return section(n, p, &loader::read_timeouts); }},
                 {"access",
                  [this](auto const& n, auto const& p) { return section(n, p, &loader::read_access); }},
                 {"admin",
                  [this](auto const& n, auto const& p) { return section(n, p, &loader::read_admin); }},
                 {"chaos",
                  [this](auto const& n, auto const& p) { return section(n, p, &loader::read_chaos); }},
                 {"origins", [this](auto const& n, auto const& p) { return read_origins(n, p); }},
             });
        cross_check(root);

        // Report in file order, positionless errors (missing things) first.
        std::stable_sort(errors_.begin(), errors_.end(), [](config_error const& a, config_error const& b) {
            return a.line < b.line || (a.line == b.line && a.column < b.column);
        });
        load_result result;
        if (errors_.empty())
            result.cfg = std::make_shared<config const>(std::move(cfg_));
        result.errors = std::move(errors_);
        return result;
    }

private:
    // Reads one key's value into cfg_ and returns true when the value differs from the default,
    // which is what decides whether an unsupported feature is in use.
    using reader = std::function<bool(toml::node const&, std::string const& path)>;
    struct field {
        std::string_view key;
        reader read;
    };
    using section_reader = void (loader::*)(toml::table const&, std::string const&);

    struct listen_site {
        host_port address;
        position where;
        std::string path;
    };

    void error(position where, std::string message)
    {
        errors_.push_back({file_, where.line, where.column, std::move(message)});
    }

    void error_at(toml::node const& node, std::string const& path, std::string const& message)
    {
        error(begin_of(node.source()), path + ": " + message);
    }

    static std::string child_path(std::string const& path, std::string_view key)
    {
        return path.empty() ? std::string(key) : path + "." + std::string(key);
    }

    // Unknown keys first (any order is fine, errors are sorted later), then the known ones in schema
    // order, so that [timeouts] is read before the origins that inherit from it.
    void walk(toml::table const& table, std::string const& path, std::vector<field> const& fields)
    {
        for (auto&& [key, value] : table) {
            bool known = std::any_of(fields.begin(), fields.end(),
                                     [&key = key](field const& f) { return f.key == key.str(); });
            if (!known)
                error(key_position(key, value), "unknown key " + quote(child_path(path, key.str())));
        }
        for (auto const& f : fields) {
            auto it = table.find(f.key);
            if (it == table.end())
                continue;
            f.read(it->second, child_path(path, f.key));
        }
    }

    bool section(toml::node const& node, std::string const& path, section_reader read)
    {
        if (auto const* t = want_table(node, path))
            (this->*read)(*t, path);
        return false;
    }

    // --- typed readers: each reports its own errors at the value's position ---

    toml::table const* want_table(toml::node const& node, std::string const& path)
    {
        if (auto const* t = node.as_table())
            return t;
        error_at(node, path, "expected a table, got " + type_name(node));
        return nullptr;
    }

    toml::array const* want_array(toml::node const& node, std::string const& path)
    {
        if (auto const* a = node.as_array())
            return a;
        error_at(node, path, "expected an array, got " + type_name(node));
        return nullptr;
    }

    std::string const* want_string(toml::node const& node, std::string const& path)
    {
        if (auto const* s = node.as_string())
            return &s->get();
        error_at(node, path, "expected a string, got " + type_name(node));
        return nullptr;
    }

    bool read_bool(toml::node const& node, std::string const& path, bool& out)
    {
        auto const* b = node.as_boolean();
        if (!b) {
            error_at(node, path, "expected true or false, got " + type_name(node));
            return false;
        }
        bool const old = out;
        out = b->get();
        return out != old;
    }

    bool read_string(toml::node const& node, std::string const& path, std::string& out)
    {
        auto const* s = want_string(node, path);
        if (!s)
            return false;
        bool const changed = *s != out;
        out = *s;
        return changed;
    }

    bool read_choice(toml::node const& node, std::string const& path, std::string& out,
                     std::initializer_list<std::string_view> allowed)
    {
        auto const* s = want_string(node, path);
        if (!s)
            return false;
        if (std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
            std::string list;
            for (auto a : allowed)
                list += (list.empty() ? "" : ", ") + quote(a);
            error_at(node, path, quote(*s) + " is not one of " + list);
            return false;
        }
        bool const changed = *s != out;
        out = *s;
        return changed;
    }

    // A non-negative integer up to `max` (counts: threads, connections, seeds).
    bool read_count(toml::node const& node, std::string const& path, std::uint64_t& out, std::uint64_t max)
    {
        auto const* i = node.as_integer();
        if (!i) {
            error_at(node, path, "expected an integer, got " + type_name(node));
            return false;
        }
        auto v = i->get();
        if (v < 0) {
            error_at(node, path, std::to_string(v) + " is negative");
            return false;
        }
        if (static_cast<std::uint64_t>(v) > max) {
            error_at(node, path, std::to_string(v) + " is too large (at most " + std::to_string(max) + ")");
            return false;
        }
        bool const changed = out != static_cast<std::uint64_t>(v);
        out = static_cast<std::uint64_t>(v);
        return changed;
    }

    enum class zero { allowed, rejected };

    bool read_duration(toml::node const& node, std::string const& path, duration& out, zero zero_rule,
                       duration max = duration::max())
    {
        auto const* s = node.as_string();
        if (!s) {
            if (node.is_integer())
                error_at(node, path,
                         std::to_string(node.as_integer()->get()) +
                             R"( has no unit (durations are strings, e.g. "19s" or "250ms"))");
            else if (node.is_floating_point())
                error_at(node, path,
                         R"(a number has no unit (durations are strings, e.g. "1.5s" or "250ms"))");
            else
                error_at(node, path, R"(expected a duration string such as "19s", got )" + type_name(node));
            return false;
        }
        std::string message;
        auto d = parse_duration(s->get(), message);
        if (!d) {
            error_at(node, path, message);
            return false;
        }
        if (zero_rule == zero::rejected && d->count() == 0) {
            error_at(node, path, "must be > 0, got " + quote(s->get()));
            return false;
        }
        if (*d > max) {
            error_at(node, path, quote(s->get()) + " is too large (at most " + format_duration(max) + ")");
            return false;
        }
        bool const changed = *d != out;
        out = *d;
        return changed;
    }

    // Head-size limits: bytes as an integer, or "32KiB"; never 0 (that would refuse everything).
    bool read_header_limit(toml::node const& node, std::string const& path, std::uint64_t& out)
    {
        std::uint64_t v = 0;
        if (auto const* i = node.as_integer()) {
            if (i->get() < 0) {
                error_at(node, path, std::to_string(i->get()) + " is negative");
                return false;
            }
            v = static_cast<std::uint64_t>(i->get());
        } else if (auto const* s = node.as_string()) {
            std::string message;
            auto parsed = parse_size(s->get(), message);
            if (!parsed) {
                error_at(node, path, message);
                return false;
            }
            v = *parsed;
        } else {
            error_at(node, path,
                     R"(expected a size (an integer of bytes or e.g. "32KiB"), got )" + type_name(node));
            return false;
        }
        if (v == 0) {
            error_at(node, path, "must be > 0");
            return false;
        }
        if (v > max_header_limit) {
            error_at(node, path, std::string("is too large (at most ") + max_header_limit_text + ")");
            return false;
        }
        bool const changed = v != out;
        out = v;
        return changed;
    }

    // An array of strings, each checked by `valid` (which reports its own error and may rewrite the
    // string, e.g. to lowercase it).
    bool read_string_list(toml::node const& node, std::string const& path, std::vector<std::string>& out,
                          std::function<bool(toml::node const&, std::string const&, std::string&)> valid = {})
    {
        auto const* a = want_array(node, path);
        if (!a)
            return false;
        std::vector<std::string> values;
        bool bad = false;
        for (std::size_t i = 0; i < a->size(); ++i) {
            auto const& element = *a->get(i);
            auto p = index_path(path, i);
            auto const* s = want_string(element, p);
            if (!s) {
                bad = true;
                continue;
            }
            std::string value = *s;
            if (valid && !valid(element, p, value)) {
                bad = true;
                continue;
            }
            values.push_back(std::move(value));
        }
        bool const changed = bad || values != out;
        out = std::move(values);
        return changed;
    }

    bool valid_ip(toml::node const& node, std::string const& path, std::string& value)
    {
        if (parse_ip(value))
            return true;
        error_at(node, path, quote(value) + " is not an IP address");
        return false;
    }

    // A listener address: host_port syntax with an IP literal host, since we bind before serving and
    // must not depend on DNS at startup.
    std::optional<host_port> parse_listen(toml::node const& node, std::string const& path,
                                          std::string_view text)
    {
        std::string message;
        auto hp = parse_host_port(text, message);
        if (!hp) {
            error_at(node, path, message);
            return std::nullopt;
        }
        if (!parse_ip(hp->host)) {
            error_at(node, path,
                     quote(text) + R"( is not an IP address and port (listeners bind to IP literals, e.g. )"
                                   R"("127.0.0.1:8080" or "[::1]:8080"))");
            return std::nullopt;
        }
        listen_sites_.push_back({*hp, begin_of(node.source()), path});
        return hp;
    }

    // A path to a file the edge reads at start and on every reload (PEM): it must be readable now.
    // "" = unset. Whether its contents parse is checked where it is loaded (proxy/tls.cpp).
    bool read_file_path(toml::node const& node, std::string const& path, std::string& out)
    {
        auto const* s = want_string(node, path);
        if (!s)
            return false;
        if (!s->empty()) {
            std::FILE* f = std::fopen(s->c_str(), "rb");
            if (!f) {
                error_at(node, path, "cannot read " + quote(*s) + ": " + std::strerror(errno));
                return false;
            }
            std::fclose(f);
        }
        bool const changed = *s != out;
        out = *s;
        return changed;
    }

    // [[edge.certs]]: hosts + cert + key, all three required.
    bool read_edge_certs(toml::node const& node, std::string const& path, std::vector<edge_certificate>& out)
    {
        auto const* a = node.as_array();
        if (!a) {
            error_at(node, path, "expected an array of tables ([[edge.certs]]), got " + type_name(node));
            return false;
        }
        for (std::size_t i = 0; i < a->size(); ++i) {
            auto const& element = *a->get(i);
            auto p = index_path(path, i);
            auto const* t = element.as_table();
            if (!t) {
                error_at(element, p, "expected a table, got " + type_name(element));
                continue;
            }
            edge_certificate c;
            c.hosts.clear();
            walk(*t, p,
                 {
                     {"hosts",
                      [&](toml::node const& n, std::string const& hp) {
                          return read_string_list(n, hp, c.hosts, [this](auto const& en, auto const& ep, auto& v) {
                              if (normalize_host_pattern(v))
                                  return true;
                              error_at(en, ep,
                                       quote(v) + R"( is not a host pattern (exact, "*.example.test" or "*"; no port))");
                              return false;
                          });
                      }},
                     {"cert", [&](toml::node const& n, std::string const& cp) { return read_file_path(n, cp, c.cert); }},
                     {"key", [&](toml::node const& n, std::string const& kp) { return read_file_path(n, kp, c.key); }},
                 });
            if (c.hosts.empty() || c.cert.empty() || c.key.empty())
                error(begin_of(t->source()), p + ": needs hosts (non-empty), cert and key");
            out.push_back(std::move(c));
        }
        return !out.empty();
    }

    bool read_listen_list(toml::node const& node, std::string const& path, std::vector<host_port>& out)
    {
        auto const* a = want_array(node, path);
        if (!a)
            return false;
        std::vector<host_port> values;
        bool bad = false;
        for (std::size_t i = 0; i < a->size(); ++i) {
            auto const& element = *a->get(i);
            auto p = index_path(path, i);
            auto const* s = want_string(element, p);
            auto hp = s ? parse_listen(element, p, *s) : std::nullopt;
            if (hp)
                values.push_back(std::move(*hp));
            else
                bad = true;
        }
        bool const changed = bad || values != out;
        out = std::move(values);
        return changed;
    }

    // "stdout", "off", or a file path. A path must contain a '/' ("./access.log"): a bare word is
    // far more likely a mistyped keyword ("stderr", "none") than a file wanted in the working dir.
    bool read_access_log(toml::node const& node, std::string const& path, access_log_destination& out)
    {
        auto const* s = want_string(node, path);
        if (!s)
            return false;
        access_log_destination v;
        if (*s == "stdout") {
            v.where = access_log_destination::kind::stdout_stream;
        } else if (*s == "off") {
            v.where = access_log_destination::kind::off;
        } else if (s->find('/') == std::string::npos || s->back() == '/' ||
                   !std::all_of(s->begin(), s->end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20; })) {
            error_at(node, path,
                     quote(*s) + R"( is not "stdout", "off" or a file path (a path contains a '/', does not end )"
                                 R"(with one and has no control characters, e.g. "./access.log"))");
            return false;
        } else {
            v.where = access_log_destination::kind::file;
            v.path = *s;
        }
        bool const changed = v != out;
        out = std::move(v);
        return changed;
    }

    // --- sections ---

    void read_edge(toml::table const& t, std::string const& path)
    {
        auto& e = cfg_.edge;
        walk(
            t, path,
            {
                {"listen",
                 [&](toml::node const& n, std::string const& p) {
                     bool changed = read_listen_list(n, p, e.listen);
                     if (auto const* a = n.as_array(); a && a->empty())
                         error_at(n, p, R"(must list at least one address, e.g. ["127.0.0.1:8080"])");
                     return changed;
                 }},
                {"threads",
                 [&](toml::node const& n, std::string const& p) {
                     std::uint64_t v = e.threads;
                     bool changed = read_count(n, p, v, max_threads);
                     e.threads = static_cast<unsigned>(v);
                     return changed;
                 }},
                {"cpu_affinity",
                 [&](toml::node const& n, std::string const& p) {
                     return read_choice(n, p, e.cpu_affinity, {"off", "auto"});
                 }},
                {"colo",
                 [&](toml::node const& n, std::string const& p) {
                     auto const* s = want_string(n, p);
                     if (!s)
                         return false;
                     if (s->size() != 3 ||
                         !std::all_of(s->begin(), s->end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
                         error_at(n, p, quote(*s) + R"( must be 3 uppercase letters A-Z, e.g. "LHR")");
                         return false;
                     }
                     bool const changed = *s != e.colo;
                     e.colo = *s;
                     return changed;
                 }},
                {"server_header",
                 [&](toml::node const& n, std::string const& p) {
                     auto const* s = want_string(n, p);
                     if (!s)
                         return false;
                     bool const printable =
                         std::all_of(s->begin(), s->end(), [](char c) { return c >= 0x20 && c < 0x7f; });
                     if (s->empty() || !printable || s->front() == ' ' || s->back() == ' ') {
                         error_at(n, p,
                                  quote(*s) +
                                      " must be non-empty printable ASCII (it is sent as the Server header)");
                         return false;
                     }
                     bool const changed = *s != e.server_header;
                     e.server_header = *s;
                     return changed;
                 }},
                {"diagnostics",
                 [&](toml::node const& n, std::string const& p) { return read_bool(n, p, e.diagnostics); }},
                {"drain_timeout",
                 [&](toml::node const& n, std::string const& p) {
                     return read_duration(n, p, e.drain_timeout, zero::allowed);
                 }},
                {"egress",
                 [&](toml::node const& n, std::string const& p) {
                     return read_string_list(n, p, e.egress, [this](auto const& en, auto const& ep, auto& v) {
                         return valid_ip(en, ep, v);
                     });
                 }},
                {"max_request_header",
                 [&](toml::node const& n, std::string const& p) {
                     return read_header_limit(n, p, e.max_request_header);
                 }},
                {"max_response_header",
                 [&](toml::node const& n, std::string const& p) {
                     return read_header_limit(n, p, e.max_response_header);
                 }},
                {"max_url",
                 [&](toml::node const& n, std::string const& p) { return read_header_limit(n, p, e.max_url); }},
                {"max_connections",
                 [&](toml::node const& n, std::string const& p) {
                     return read_count(n, p, e.max_connections, std::numeric_limits<std::uint64_t>::max());
                 }},
                {"access_log",
                 [&](toml::node const& n, std::string const& p) { return read_access_log(n, p, e.access_log); }},
                {"log_format",
                 [&](toml::node const& n, std::string const& p) {
                     return read_choice(n, p, e.log_format, {"text", "json"});
                 }},
                {"log_level",
                 [&](toml::node const& n, std::string const& p) {
                     return read_choice(n, p, e.log_level,
                                        {"trace", "debug", "info", "warn", "error", "critical", "off"});
                 }},
                {"listen_tls", [&](toml::node const& n,
                                   std::string const& p) { return read_listen_list(n, p, e.listen_tls); }},
                {"cert",
                 [&](toml::node const& n, std::string const& p) { return read_file_path(n, p, e.cert); }},
                {"key", [&](toml::node const& n, std::string const& p) { return read_file_path(n, p, e.key); }},
                {"certs", [&](toml::node const& n, std::string const& p) { return read_edge_certs(n, p, e.certs); }},
            });
        if (e.cert.empty() != e.key.empty())
            error(begin_of(t.source()), path + ": cert and key go together (both PEM files, or neither for a "
                                               "generated localhost certificate)");
        if (!e.certs.empty() && e.cert.empty())
            error(begin_of(t.source()), path + ": [[edge.certs]] needs cert and key too (the default certificate, "
                                               "for clients whose SNI matches none)");
    }

    void read_timeouts(toml::table const& t, std::string const& path)
    {
        auto& to = cfg_.timeouts;
        auto positive = [&](duration& out) {
            return [this, &out](toml::node const& n, std::string const& p) {
                return read_duration(n, p, out, zero::rejected);
            };
        };
        auto zero_ok = [&](duration& out) {
            return [this, &out](toml::node const& n, std::string const& p) {
                return read_duration(n, p, out, zero::allowed);
            };
        };
        walk(t, path,
             {
                 {"connect", positive(to.connect)},
                 {"request_ack",
                  [&](toml::node const& n, std::string const& p) {
                      return read_duration(n, p, to.request_ack, zero::allowed, max_request_ack);
                  }},
                 {"read", positive(to.read)},
                 {"write", positive(to.write)},
                 {"origin_idle", zero_ok(to.origin_idle)},
                 {"client_header", positive(to.client_header)},
                 {"client_idle", zero_ok(to.client_idle)},
                 {"dns", positive(to.dns)},
                 {"tunnel_idle", zero_ok(to.tunnel_idle)},
                 {"tls_handshake", positive(to.tls_handshake)},
             });
    }

    // An array of addresses / CIDRs (access rules, firewall_allow), each checked strictly.
    bool read_cidr_list(toml::node const& node, std::string const& path, std::vector<cidr>& out)
    {
        std::vector<std::string> texts;
        return read_string_list(node, path, texts, [this, &out](auto const& en, auto const& ep, auto& v) {
            std::string message;
            auto c = parse_cidr(v, message);
            if (!c) {
                error_at(en, ep, message);
                return false;
            }
            out.push_back(std::move(*c));
            return true;
        });
    }

    // [access], and an origin's `access = { ... }`.
    void read_access_lists(toml::table const& t, std::string const& path, access_rules& out)
    {
        auto cidrs = [this](std::vector<cidr>& rules) {
            return [this, &rules](toml::node const& n, std::string const& p) { return read_cidr_list(n, p, rules); };
        };
        walk(t, path, {{"allow", cidrs(out.allow)}, {"block", cidrs(out.block)}});
    }

    void read_access(toml::table const& t, std::string const& path) { read_access_lists(t, path, cfg_.access); }

    void read_admin(toml::table const& t, std::string const& path)
    {
        auto& a = cfg_.admin;
        walk(
            t, path,
            {
                {"listen",
                 [&](toml::node const& n, std::string const& p) {
                     auto const* s = want_string(n, p);
                     if (!s)
                         return false;
                     if (s->empty()) {
                         a.listen.reset();
                         return true;
                     }
                     a.listen = parse_listen(n, p, *s);
                     return true;
                 }},
                {"token",
                 [&](toml::node const& n, std::string const& p) {
                     auto const* s = want_string(n, p);
                     if (!s)
                         return false;
                     if (!std::all_of(s->begin(), s->end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
                         error_at(
                             n, p,
                             R"(may only contain visible ASCII characters (it is compared with "Authorization: Bearer TOKEN"))");
                         return false;
                     }
                     a.token = *s;
                     return !s->empty();
                 }},
            });
    }

    void read_chaos(toml::table const& t, std::string const& path)
    {
        auto& c = cfg_.chaos;
        walk(t, path,
             {
                 {"seed",
                  [&](toml::node const& n, std::string const& p) {
                      return read_count(n, p, c.seed, std::numeric_limits<std::uint64_t>::max());
                  }},
                 {"header",
                  [&](toml::node const& n, std::string const& p) {
                      auto const* s = want_string(n, p);
                      if (!s)
                          return false;
                      auto tchar = [](char ch) {
                          return is_alnum(ch) ||
                                 std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
                      };
                      if (!std::all_of(s->begin(), s->end(), tchar)) {
                          error_at(n, p, quote(*s) + " is not a valid header name");
                          return false;
                      }
                      c.header = *s;
                      return !s->empty();
                  }},
             });
    }

    bool read_origins(toml::node const& node, std::string const& path)
    {
        auto const* a = node.as_array();
        if (!a) {
            error_at(node, path, "expected an array of tables ([[origins]]), got " + type_name(node));
            return false;
        }
        if (a->empty())
            error_at(node, path, "must list at least one origin");
        for (std::size_t i = 0; i < a->size(); ++i) {
            auto const& element = *a->get(i);
            auto p = index_path(path, i);
            if (auto const* t = element.as_table())
                read_origin(*t, p);
            else
                error_at(element, p, "expected a table, got " + type_name(element));
        }
        return false;
    }

    void read_origin(toml::table const& t, std::string const& path)
    {
        origin o;
        auto const& g = cfg_.timeouts; // already read: walk() reads sections in schema order
        o.timeouts = {g.connect, g.request_ack, g.read, g.write, g.origin_idle};
        position name_at{};

        std::string tls_verify = "full", firewall_action = "drop";

        auto positive = [&](duration& out) {
            return [this, &out](toml::node const& n, std::string const& p) {
                return read_duration(n, p, out, zero::rejected);
            };
        };
        auto zero_ok = [&](duration& out) {
            return [this, &out](toml::node const& n, std::string const& p) {
                return read_duration(n, p, out, zero::allowed);
            };
        };
        walk(
            t, path,
            {
                {"name",
                 [&](toml::node const& n, std::string const& p) {
                     auto const* s = want_string(n, p);
                     if (!s)
                         return false;
                     name_at = begin_of(n.source());
                     if (s->empty()) {
                         error_at(n, p, "must not be empty");
                         return false;
                     }
                     if (!std::all_of(s->begin(), s->end(), [](char c) {
                             return is_alnum(c) || c == '.' || c == '_' || c == '-';
                         })) {
                         error_at(n, p,
                                  quote(*s) + " may only contain letters, digits, '.', '_' and '-' "
                                              "(it appears in admin URLs and metric labels)");
                         return false;
                     }
                     o.name = *s;
                     return true;
                 }},
                {"hosts",
                 [&](toml::node const& n, std::string const& p) {
                     bool changed =
                         read_string_list(n, p, o.hosts, [this](auto const& en, auto const& ep, auto& v) {
                             if (normalize_host_pattern(v))
                                 return true;
                             error_at(
                                 en, ep,
                                 quote(v) +
                                     R"( is not a host pattern (use an exact host such as "app.example.test", )"
                                     R"("*.example.test" or "*"; no port))");
                             return false;
                         });
                     if (auto const* a = n.as_array(); a && a->empty())
                         error_at(n, p, R"(must list at least one host pattern (use ["*"] for every host))");
                     return changed;
                 }},
                {"servers",
                 [&](toml::node const& n, std::string const& p) { return read_servers(n, p, o.servers); }},
                {"failover",
                 [&](toml::node const& n, std::string const& p) { return read_bool(n, p, o.failover); }},
                {"connect_timeout", positive(o.timeouts.connect)},
                {"request_ack_timeout",
                 [&](toml::node const& n, std::string const& p) {
                     return read_duration(n, p, o.timeouts.request_ack, zero::allowed, max_request_ack);
                 }},
                {"read_timeout", positive(o.timeouts.read)},
                {"write_timeout", positive(o.timeouts.write)},
                {"origin_idle_timeout", zero_ok(o.timeouts.origin_idle)},
                {"tls", [&](toml::node const& n, std::string const& p) { return read_bool(n, p, o.tls); }},
                {"tls_verify",
                 [&](toml::node const& n, std::string const& p) {
                     bool changed = read_choice(n, p, tls_verify, {"full", "strict"});
                     o.verify = tls_verify == "strict" ? edge522::config::tls_verify::strict
                                                       : edge522::config::tls_verify::full;
                     return changed;
                 }},
                {"tls_sni",
                 [&](toml::node const& n, std::string const& p) {
                     auto const* s = want_string(n, p);
                     if (!s)
                         return false;
                     std::string v = *s;
                     if (!v.empty() && (!normalize_host_pattern(v) || v.find('*') != std::string::npos)) {
                         error_at(n, p, quote(*s) + " is not a host name (SNI names the origin's host, without port)");
                         return false;
                     }
                     o.tls_sni = v;
                     return !v.empty();
                 }},
                {"tls_ca",
                 [&](toml::node const& n, std::string const& p) { return read_file_path(n, p, o.tls_ca); }},
                {"access",
                 [&](toml::node const& n, std::string const& p) {
                     auto const* at = want_table(n, p);
                     if (!at)
                         return false;
                     o.access.emplace();
                     read_access_lists(*at, p, *o.access);
                     return true;
                 }},
                {"egress",
                 [&](toml::node const& n, std::string const& p) {
                     o.egress.emplace();
                     return read_string_list(n, p, *o.egress, [this](auto const& en, auto const& ep, auto& v) {
                         return valid_ip(en, ep, v);
                     });
                 }},
                {"firewall_allow",
                 [&](toml::node const& n, std::string const& p) { return read_cidr_list(n, p, o.firewall_allow); }},
                {"firewall_action",
                 [&](toml::node const& n, std::string const& p) {
                     bool changed = read_choice(n, p, firewall_action, {"drop", "reject"});
                     o.firewall = firewall_action == "reject" ? edge522::config::firewall_action::reject
                                                               : edge522::config::firewall_action::drop;
                     return changed;
                 }},
                {"faults", [&](toml::node const& n, std::string const& p) { return read_faults(n, p, o.faults); }},
            });

        if (!t.contains("name"))
            error(begin_of(t.source()),
                  path + R"(: missing name (every origin needs a unique one, e.g. name = "app"))");
        if (!o.tls) {
            // A TLS setting on a plain-HTTP origin is a forgotten `tls = true`, not a wish.
            bool const set[] = {o.verify != edge522::config::tls_verify::full, !o.tls_sni.empty(), !o.tls_ca.empty()};
            char const* const keys[] = {"tls_verify", "tls_sni", "tls_ca"};
            for (std::size_t k = 0; k < 3; ++k)
                if (auto it = t.find(keys[k]); set[k] && it != t.end())
                    error(key_position(it->first, it->second),
                          path + "." + keys[k] + " has no effect without tls = true (HTTPS to this origin)");
        }
        cfg_.origins.push_back(std::move(o));
        origin_name_at_.push_back(name_at);
    }

    bool read_servers(toml::node const& node, std::string const& path, std::vector<host_port>& out)
    {
        auto const* a = want_array(node, path);
        if (!a)
            return false;
        if (a->empty())
            error_at(node, path, R"(must list at least one server, e.g. ["127.0.0.1:3000"])");
        std::vector<host_port> values;
        for (std::size_t i = 0; i < a->size(); ++i) {
            auto const& element = *a->get(i);
            auto p = index_path(path, i);
            auto const* s = want_string(element, p);
            if (!s)
                continue;
            std::string message;
            auto hp = parse_host_port(*s, message);
            if (!hp) {
                error_at(element, p, message);
                continue;
            }
            if (hp->port == 0) {
                error_at(element, p, quote(*s) + ": port 0 is not valid for an origin server");
                continue;
            }
            values.push_back(std::move(*hp));
        }
        bool const changed = values != out;
        out = std::move(values);
        return changed;
    }

    // [[origins.faults]] (SPEC section 5), into `out`. Every field is checked where it is written.
    bool read_faults(toml::node const& node, std::string const& path, std::vector<fault>& out)
    {
        auto const* a = node.as_array();
        if (!a) {
            error_at(node, path, "expected an array of tables ([[origins.faults]]), got " + type_name(node));
            return false;
        }
        for (std::size_t i = 0; i < a->size(); ++i) {
            auto const& element = *a->get(i);
            auto p = index_path(path, i);
            auto const* t = element.as_table();
            if (!t) {
                error_at(element, p, "expected a table, got " + type_name(element));
                continue;
            }
            fault f;
            walk(
                *t, p,
                {
                    {"type",
                     [&](toml::node const& n, std::string const& fp) {
                         auto const* s = want_string(n, fp);
                         std::string why;
                         if (s) {
                             if (auto ft = parse_fault_type(*s, why))
                                 f.type = *ft;
                             else
                                 error_at(n, fp, why);
                         }
                         return false;
                     }},
                    {"probability",
                     [&](toml::node const& n, std::string const& fp) {
                         auto v = n.value<double>(); // integers 0 and 1 convert too
                         if (!v || !n.is_number())
                             error_at(n, fp, "expected a number from 0 to 1, got " + type_name(n));
                         else if (!(*v >= 0.0 && *v <= 1.0))
                             error_at(n, fp, "must be from 0 to 1");
                         else
                             f.probability = *v;
                         return false;
                     }},
                    {"path_prefix",
                     [&](toml::node const& n, std::string const& fp) {
                         auto const* s = want_string(n, fp);
                         if (s && !s->starts_with("/"))
                             error_at(n, fp, quote(*s) + R"( must start with "/")");
                         else if (s)
                             f.path_prefix = *s;
                         return false;
                     }},
                    {"delay",
                     [&](toml::node const& n, std::string const& fp) {
                         read_duration(n, fp, f.delay, zero::allowed);
                         return false;
                     }},
                    {"jitter",
                     [&](toml::node const& n, std::string const& fp) {
                         read_duration(n, fp, f.jitter, zero::allowed);
                         return false;
                     }},
                    {"schedule",
                     [&](toml::node const& n, std::string const& fp) {
                         auto const* st = want_table(n, fp);
                         if (!st)
                             return false;
                         walk(*st, fp,
                              {
                                  {"up",
                                   [&](toml::node const& sn, std::string const& sp) {
                                       return read_duration(sn, sp, f.up, zero::rejected);
                                   }},
                                  {"down",
                                   [&](toml::node const& sn, std::string const& sp) {
                                       return read_duration(sn, sp, f.down, zero::rejected);
                                   }},
                              });
                         if (!st->empty() && (!st->contains("up") || !st->contains("down")))
                             error_at(
                                 n, fp,
                                 R"(needs both up and down, e.g. { up = "30s", down = "10s" }, or {} for always on)");
                         return false;
                     }},
                });
            if (!t->contains("type"))
                error(begin_of(t->source()), p + R"(: missing type, e.g. type = "blackhole")");
            out.push_back(std::move(f));
        }
        return false;
    }

    // --- the second pass: what needs the whole config ---

    void cross_check(toml::table const& root)
    {
        if (!root.contains("origins"))
            error(
                {},
                R"(no [[origins]] defined: add at least one, e.g. [[origins]] name = "app" servers = ["127.0.0.1:3000"])");

        std::map<std::string, std::size_t> first_by_name;
        for (std::size_t i = 0; i < cfg_.origins.size(); ++i) {
            auto const& name = cfg_.origins[i].name;
            if (name.empty())
                continue; // missing or invalid: already reported
            auto [it, inserted] = first_by_name.emplace(name, i);
            if (!inserted)
                error(origin_name_at_[i], "origins[" + std::to_string(i) + "].name: duplicate origin name " +
                                              quote(name) + " (first defined at " +
                                              position_text(origin_name_at_[it->second]) + ")");
        }

        // Every worker binds its own SO_REUSEPORT socket, so two entries for one address would both
        // bind and silently split the traffic: catch them here instead. Defaults take part (with no
        // position) since they collide at startup just the same.
        std::vector<listen_site> sites;
        if (!root["edge"]["listen"])
            for (auto const& hp : cfg_.edge.listen)
                sites.push_back({hp, {}, "edge.listen"});
        if (!root["admin"]["listen"] && cfg_.admin.listen)
            sites.push_back({*cfg_.admin.listen, {}, "admin.listen"});
        sites.insert(sites.end(), listen_sites_.begin(), listen_sites_.end());

        auto describe = [](listen_site const& s, bool with_address) {
            if (s.where.line == 0)
                return "the default " + s.path + (with_address ? " " + quote(s.address.text) : "");
            return s.path + (with_address ? " " + quote(s.address.text) : "") + " (" +
                   position_text(s.where) + ")";
        };
        for (std::size_t i = 0; i < sites.size(); ++i) {
            auto const& b = sites[i];
            if (b.address.port == 0 || b.where.line == 0)
                continue; // port 0: the kernel picks distinct ports; defaults never collide with each other
            auto b_ip = parse_ip(b.address.host);
            for (std::size_t j = 0; j < i; ++j) {
                auto const& a = sites[j];
                auto a_ip = parse_ip(a.address.host);
                if (a.address.port != b.address.port || !a_ip || !b_ip || a_ip->family != b_ip->family)
                    continue;
                if (*a_ip == *b_ip) {
                    error(b.where, b.path + ": " + quote(b.address.text) + " is already used by " +
                                       describe(a, false));
                    break;
                }
                if (a_ip->is_unspecified() || b_ip->is_unspecified()) {
                    error(b.where, b.path + ": " + quote(b.address.text) + " overlaps " + describe(a, true));
                    break;
                }
            }
        }
    }

    std::string file_;
    config cfg_;
    std::vector<config_error> errors_;
    std::vector<listen_site> listen_sites_; // every listener, for the overlap check
    std::vector<position> origin_name_at_;  // parallel to cfg_.origins; line 0 = no name
};

} // namespace

std::string_view name(fault_type t) noexcept
{
    return fault_types[static_cast<std::size_t>(t)];
}

bool connect_phase(fault_type t) noexcept
{
    return t <= fault_type::dns_fail;
}

bool needs_new_connection(fault_type t) noexcept
{
    return connect_phase(t) || t == fault_type::tls_fail || t == fault_type::bad_cert;
}

std::optional<double> parse_decimal(std::string_view text) noexcept
{
    double v = 0;
    auto const end = text.data() + text.size();
    auto const [p, ec] = std::from_chars(text.data(), end, v, std::chars_format::general);
    if (text.empty() || ec != std::errc{} || p != end || !std::isfinite(v)) return std::nullopt;
    return v;
}

std::string_view text_prefix(std::string_view text, std::size_t max) noexcept
{
    if (text.size() <= max) return text;
    std::size_t n = max;
    // Back to the first byte of the sequence the cut falls in (continuation bytes are 10xxxxxx).
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    return text.substr(0, n);
}

std::optional<fault_type> parse_fault_type(std::string_view text, std::string& error)
{
    auto it = std::find(fault_types.begin(), fault_types.end(), text);
    if (it == fault_types.end()) {
        error = "\"" + std::string(text_prefix(text)) +
                "\" is not a fault type (blackhole syn_loss connect_delay refuse unreachable dns_fail "
                "response_delay no_ack reset empty garbage tls_fail bad_cert; see SPEC section 5)";
        return std::nullopt;
    }
    auto const t = static_cast<fault_type>(it - fault_types.begin());
    return t;
}

std::optional<host_port> parse_host_port(std::string_view text, std::string& error)
{
    auto fail = [&](std::string message) -> std::optional<host_port> {
        error = std::move(message);
        return std::nullopt;
    };
    auto const q = quote(text);
    if (text.empty())
        return fail(R"(empty address (use host:port, e.g. "127.0.0.1:8080"))");

    std::string_view host, port;
    if (text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos)
            return fail(q + " has no closing ']'");
        host = text.substr(1, close - 1);
        auto after = text.substr(close + 1);
        if (after.empty())
            return fail(q + R"( has no port (use e.g. "[::1]:8080"))");
        if (after.front() != ':')
            return fail(q + " is malformed: expected ':' and a port after ']'");
        port = after.substr(1);
        auto ip = parse_ip(host);
        if (!ip || ip->family != AF_INET6)
            return fail(q + ": " + quote(host) + " is not an IPv6 address (brackets are only for IPv6)");
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return fail(q + R"( has no port (use host:port, e.g. "127.0.0.1:8080"))");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return fail(q + R"(: IPv6 addresses need brackets, e.g. "[::1]:8080")");
        if (host.empty())
            return fail(q + R"( has no host (use "0.0.0.0:PORT" or "[::]:PORT" for every interface))");
        if (looks_like_ipv4(host)) {
            if (!parse_ip(host))
                return fail(q + ": " + quote(host) + " is not an IPv4 address");
        } else if (!is_host_name(host)) {
            return fail(q + ": " + quote(host) + " is not a valid host name or IP address");
        }
    }
    if (port.empty())
        return fail(q + " has no port number");
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return fail(q + ": port " + quote(port) + " is not a number");
    auto value = std::stoul(std::string(port));
    if (value > 65535)
        return fail(q + ": port " + std::to_string(value) + " is out of range (0-65535)");
    return host_port{std::string(host), static_cast<std::uint16_t>(value), std::string(text)};
}

std::string config_error::to_string() const
{
    if (line <= 0)
        return file + ": " + message;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

load_result load_string(std::string_view toml_text, std::string const& source_name)
{
    toml::table root;
    try {
        root = toml::parse(toml_text, std::string_view{source_name});
    } catch (toml::parse_error const& e) {
        auto at = begin_of(e.source());
        load_result result;
        result.errors.push_back({source_name, at.line, at.column, std::string(e.description())});
        return result;
    }
    return loader(source_name).run(root);
}

load_result load_file(std::string const& path)
{
    auto cannot_read = [&](int err) {
        load_result result;
        result.errors.push_back({path, 0, 0, std::string("cannot read: ") + std::strerror(err)});
        return result;
    };
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f)
        return cannot_read(errno);
    std::string text;
    char buffer[64 * 1024];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
        text.append(buffer, n);
    // fopen() succeeds on a directory on Linux; the read then fails with EISDIR.
    int const err = std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (err != 0)
        return cannot_read(err);
    return load_string(text, path);
}

std::string_view default_toml()
{
    return R"(# edge522's embedded default, used when no --config is given (SPEC section 2).
[edge]
listen = ["127.0.0.1:8080"]

[admin]
listen = "127.0.0.1:9522"

[[origins]]
name = "app"
hosts = ["*"]
servers = ["127.0.0.1:3000"]
)";
}

} // namespace edge522::config
