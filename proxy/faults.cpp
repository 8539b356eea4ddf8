#include "proxy/faults.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>

#include <algorithm>
#include <random>

namespace edge522 {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

// splitmix64: a full-period mixer; enough for fault draws (not cryptography).
std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Salts of the draws of one fault, apart so that they are independent.
constexpr std::uint64_t salt_apply = 0;
constexpr std::uint64_t salt_delay = 1;
constexpr std::uint64_t salt_syn = 16;  // + SYN number

std::string_view text_of(json::value const& v) noexcept {
    auto const& s = v.get_string();
    return {s.data(), s.size()};
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool set_duration(config::duration& out, std::string_view key, std::string_view text, std::string& error) {
    std::string why;
    auto d = config::parse_duration(text, why);
    if (!d) {
        error = std::string(key) + ": " + why;
        return false;
    }
    out = *d;
    return true;
}

bool set_probability(config::fault& f, double v, std::string& error) {
    if (!(v >= 0.0 && v <= 1.0)) {
        error = "probability: must be from 0 to 1";
        return false;
    }
    f.probability = v;
    return true;
}

bool set_path_prefix(config::fault& f, std::string_view v, std::string& error) {
    if (!v.starts_with('/')) {
        error = "path_prefix: must start with \"/\"";
        return false;
    }
    f.path_prefix = std::string(v);
    return true;
}

// A schedule is both halves or neither.
bool check_schedule(config::fault const& f, std::string& error) {
    if ((f.up.count() > 0) != (f.down.count() > 0)) {
        error = "schedule: needs both up and down > 0, e.g. {\"up\":\"30s\",\"down\":\"10s\"}";
        return false;
    }
    return true;
}

} // namespace

std::vector<active_fault> const* fault_table::of(std::string_view origin) const noexcept {
    auto it = by_origin.find(origin);
    return it == by_origin.end() ? nullptr : &it->second;
}

std::string fault_choice::prefix() const {
    std::string out = "emulated fault ";
    out.append(config::name(spec.type));
    out.append(id ? " (id " + std::to_string(id) : std::string(" (request header"));
    if (spec.type == config::fault_type::syn_loss)
        out.append(", ").append(std::to_string(syns_lost)).append(syns_lost == 1 ? " SYN lost" : " SYNs lost");
    out.append("): ");
    return out;
}

std::string fault_choice::id_text() const { return id ? std::to_string(id) : std::string("header"); }

milliseconds syn_offset(unsigned n) noexcept {
    static constexpr int offsets[max_syns] = {0, 1, 2, 3, 4, 5, 7, 11, 19};
    return std::chrono::seconds(offsets[std::min(n, max_syns - 1)]);
}

unsigned syns_before(milliseconds deadline) noexcept {
    unsigned n = 0;
    while (n < max_syns && syn_offset(n) < deadline) ++n;
    return n;
}

double fault_draw::unit(std::uint64_t salt) const noexcept {
    auto const x = mix(seed ^ mix(sequence ^ mix(salt)));
    return static_cast<double>(x >> 11) * 0x1.0p-53;
}

std::optional<fault_choice> decide_one(config::fault const& spec, std::uint64_t id, fault_draw const& draw,
                                       std::uint64_t salt) {
    salt *= 64;
    // probability 1: unit() < 1 always; probability 0: never.
    if (spec.type != config::fault_type::syn_loss && !(draw.unit(salt + salt_apply) < spec.probability))
        return std::nullopt;
    fault_choice c{spec, id, milliseconds(0), 0};
    if (spec.type == config::fault_type::connect_delay || spec.type == config::fault_type::response_delay) {
        auto const j = static_cast<double>(spec.jitter.count());
        auto const d = static_cast<double>(spec.delay.count()) + (draw.unit(salt + salt_delay) * 2 - 1) * j;
        c.delay = milliseconds(static_cast<milliseconds::rep>(std::max(0.0, d)));
    }
    if (spec.type == config::fault_type::syn_loss)
        while (c.syns_lost < max_syns && draw.unit(salt + salt_syn + c.syns_lost) < spec.probability) ++c.syns_lost;
    return c;
}

std::optional<fault_choice> decide(std::vector<active_fault> const& faults, std::string_view path,
                                   fault_draw const& draw, std::chrono::steady_clock::time_point now) {
    for (std::size_t i = 0; i < faults.size(); ++i) {
        auto const& f = faults[i];
        if (!path.starts_with(f.spec.path_prefix)) continue;
        if (f.spec.scheduled()) {
            // Off for `up`, then on for `down`, repeating from the fault's creation.
            auto const since = std::chrono::duration_cast<milliseconds>(now - f.created).count();
            auto const period = (f.spec.up + f.spec.down).count();
            if (since < 0 || since % period < f.spec.up.count()) continue;
        }
        if (auto c = decide_one(f.spec, f.id, draw, i + 1)) return c;
    }
    return std::nullopt;
}

namespace {

// An emulated connect that nothing answered: timed out at its deadline, or cut before it (a drain).
void emulated_timeout(connect_result& r, bool held) noexcept {
    r.why = failure::connect_timeout;
    r.ec = unanswered(held);
}

} // namespace

task<void> connect_with_fault(connect_result& r, worker_executor ex, connect_deadline& guard,
                              config::host_port const& server,
                              config::origin_timeouts const& timeouts,
                              std::chrono::milliseconds dns_timeout, connect_policy const& policy,
                              fault_choice const& fault) {
    namespace net = boost::asio;
    using clock = std::chrono::steady_clock;
    auto const t0 = clock::now();
    auto const deadline = t0 + timeouts.connect;
    r = connect_result{};
    r.address = server.text;
    auto const type = fault.spec.type;
    if (type == config::fault_type::syn_loss || type == config::fault_type::connect_delay) {
        // The SYN that gets through leaves this late; if that is past the deadline, none does.
        bool const all_lost = type == config::fault_type::syn_loss && fault.syns_lost >= max_syns;
        auto const late = type == config::fault_type::syn_loss ? syn_offset(fault.syns_lost) : fault.delay;
        bool held = true;  // false: cut (a drain), and no SYN leaves
        if (!all_lost && t0 + late < deadline) {
            held = co_await hold_until(ex, guard, t0 + late);
            auto rest = timeouts;
            rest.connect = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
            if (held && rest.connect.count() > 0) {
                co_await connect_origin(r, ex, guard, server, rest, dns_timeout, policy);
                r.connect_time = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t0);
                co_return;
            }
        }
        if (held) held = co_await hold_until(ex, guard, deadline);
        emulated_timeout(r, held);
    } else if (type == config::fault_type::blackhole) {
        emulated_timeout(r, co_await hold_until(ex, guard, deadline));
    } else if (type == config::fault_type::refuse) {
        r.why = failure::connect_refused;
        r.ec = net::error::connection_refused;
    } else if (type == config::fault_type::unreachable) {
        r.why = failure::unreachable;
        r.ec = net::error::host_unreachable;
    } else {
        r.why = failure::dns_failed;
        r.ec = net::error::host_not_found;
    }
    r.connect_time = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t0);
}

std::optional<config::fault> fault_from_header(std::string_view value, std::string& error) {
    config::fault f;
    auto const semi = value.find(';');
    auto const type = trim(value.substr(0, semi));
    auto t = config::parse_fault_type(type, error);
    if (!t) return std::nullopt;
    f.type = *t;
    for (auto rest = semi == std::string_view::npos ? std::string_view{} : value.substr(semi + 1); !rest.empty();) {
        auto const end = rest.find(';');
        auto const item = trim(rest.substr(0, end));
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        if (item.empty()) continue;
        auto const eq = item.find('=');
        auto const key = trim(item.substr(0, eq));
        auto const v = eq == std::string_view::npos ? std::string_view{} : trim(item.substr(eq + 1));
        if (eq == std::string_view::npos || v.empty()) {
            error = std::string(config::text_prefix(key)) + ": expected key=value";
            return std::nullopt;
        }
        bool ok = true;
        if (key == "delay") ok = set_duration(f.delay, key, v, error);
        else if (key == "jitter") ok = set_duration(f.jitter, key, v, error);
        else if (key == "path_prefix") ok = set_path_prefix(f, v, error);
        else if (key == "probability") {
            auto const p = config::parse_decimal(v);
            if (!p) {
                error = "probability: \"" + std::string(config::text_prefix(v)) + "\" is not a number";
                return std::nullopt;
            }
            ok = set_probability(f, *p, error);
        } else {
            error = "\"" + std::string(config::text_prefix(key)) + "\" is not a fault parameter (delay, jitter, probability, path_prefix)";
            return std::nullopt;
        }
        if (!ok) return std::nullopt;
    }
    return f;
}

std::optional<config::fault> fault_from_json(json::value const& v, std::string& error) {
    auto const* o = v.if_object();
    if (!o) {
        error = "expected a JSON object such as {\"type\":\"blackhole\"}";
        return std::nullopt;
    }
    config::fault f;
    auto const* type = o->if_contains("type");
    if (!type) {
        error = "type: missing, e.g. {\"type\":\"blackhole\"}";
        return std::nullopt;
    }
    if (!type->is_string()) {
        error = "type: expected a string";
        return std::nullopt;
    }
    std::string why;
    auto t = config::parse_fault_type(text_of(*type), why);
    if (!t) {
        error = "type: " + why;
        return std::nullopt;
    }
    f.type = *t;
    auto duration_field = [&](json::value const& fv, std::string_view key, config::duration& out) {
        if (!fv.is_string()) {
            error = std::string(key) + ": expected a duration string such as \"2s\" or \"250ms\"";
            return false;
        }
        return set_duration(out, key, text_of(fv), error);
    };
    for (auto const& [key, fv] : *o) {
        std::string_view const k(key);
        bool ok = true;
        if (k == "type") continue;
        if (k == "probability") {
            if (!fv.is_number()) {
                error = "probability: expected a number from 0 to 1";
                return std::nullopt;
            }
            ok = set_probability(f, fv.to_number<double>(), error);
        } else if (k == "path_prefix") {
            if (!fv.is_string()) {
                error = "path_prefix: expected a string starting with \"/\"";
                return std::nullopt;
            }
            ok = set_path_prefix(f, text_of(fv), error);
        } else if (k == "delay") {
            ok = duration_field(fv, "delay", f.delay);
        } else if (k == "jitter") {
            ok = duration_field(fv, "jitter", f.jitter);
        } else if (k == "schedule") {
            auto const* s = fv.if_object();
            if (!s) {
                error = "schedule: expected an object such as {\"up\":\"30s\",\"down\":\"10s\"}";
                return std::nullopt;
            }
            for (auto const& [sk, sv] : *s) {
                std::string_view const skey(sk);
                if (skey == "up") ok = duration_field(sv, "schedule.up", f.up);
                else if (skey == "down") ok = duration_field(sv, "schedule.down", f.down);
                else {
                    error = "schedule." + std::string(config::text_prefix(skey)) + ": unknown field (up, down)";
                    return std::nullopt;
                }
                if (!ok) return std::nullopt;
            }
            if (!s->empty() && (f.up.count() == 0 || f.down.count() == 0)) {
                error = "schedule: needs both up and down > 0, e.g. {\"up\":\"30s\",\"down\":\"10s\"}, or {} for always on";
                return std::nullopt;
            }
        } else {
            error = std::string(config::text_prefix(k)) +
                    ": unknown field (type, probability, path_prefix, delay, jitter, schedule)";
            return std::nullopt;
        }
        if (!ok) return std::nullopt;
    }
    if (!check_schedule(f, error)) return std::nullopt;
    return f;
}

json::object fault_to_json(active_fault const& f) {
    json::object o{{"id", f.id},
                   {"source", f.runtime ? "runtime" : "config"},
                   {"type", config::name(f.spec.type)},
                   {"probability", f.spec.probability},
                   {"path_prefix", f.spec.path_prefix},
                   {"delay", config::format_duration(f.spec.delay)},
                   {"jitter", config::format_duration(f.spec.jitter)}};
    if (f.spec.scheduled())
        o["schedule"] = json::object{{"up", config::format_duration(f.spec.up)},
                                     {"down", config::format_duration(f.spec.down)}};
    else
        o["schedule"] = json::object{};
    return o;
}

fault_registry& fault_registry::process() {
    static fault_registry r;
    return r;
}

fault_registry::fault_registry() : current_(std::make_shared<fault_table const>()) {
    std::random_device rd;
    random_seed_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    if (random_seed_ == 0) random_seed_ = 1;
}

void fault_registry::publish() {
    for (auto it = state_.by_origin.begin(); it != state_.by_origin.end();)
        it = it->second.empty() ? state_.by_origin.erase(it) : std::next(it);
    bool const any = !state_.by_origin.empty();
    current_.store(std::make_shared<fault_table const>(state_), std::memory_order_release);
    any_.store(any, std::memory_order_release);
}

void fault_registry::load_config(config::config const& cfg) {
    std::lock_guard lock(mutex_);
    auto const now = std::chrono::steady_clock::now();
    fault_table next;
    for (auto const& o : cfg.origins) {
        auto& list = next.by_origin[o.name];
        for (auto const& f : o.faults) list.push_back({next_id_++, f, false, now});
        if (auto it = state_.by_origin.find(o.name); it != state_.by_origin.end())
            for (auto const& f : it->second)
                if (f.runtime) list.push_back(f);  // run-time faults survive while their origin exists
    }
    state_ = std::move(next);
    publish();
}

std::uint64_t fault_registry::add(std::string_view origin, config::fault const& f) {
    std::lock_guard lock(mutex_);
    auto const id = next_id_++;
    auto it = state_.by_origin.find(origin);
    if (it == state_.by_origin.end()) it = state_.by_origin.emplace(std::string(origin), std::vector<active_fault>{}).first;
    it->second.push_back({id, f, true, std::chrono::steady_clock::now()});
    publish();
    return id;
}

bool fault_registry::remove(std::string_view origin, std::uint64_t id) {
    std::lock_guard lock(mutex_);
    auto it = state_.by_origin.find(origin);
    if (it == state_.by_origin.end()) return false;
    auto& list = it->second;
    auto f = std::find_if(list.begin(), list.end(), [id](active_fault const& a) { return a.id == id; });
    if (f == list.end()) return false;
    list.erase(f);
    publish();
    return true;
}

void fault_registry::clear(std::string_view origin) {
    std::lock_guard lock(mutex_);
    if (auto it = state_.by_origin.find(origin); it != state_.by_origin.end()) it->second.clear();
    publish();
}

void fault_registry::reset() {
    std::lock_guard lock(mutex_);
    for (auto& [name, list] : state_.by_origin)
        std::erase_if(list, [](active_fault const& a) { return a.runtime; });
    publish();
}

} // namespace edge522
