#include "proxy/faults.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace edge522;
using namespace std::chrono_literals;
using config::fault_type;

namespace {

std::string header_error(std::string_view v) {
    std::string e;
    auto f = fault_from_header(v, e);
    return f ? "ok" : e;
}

std::string json_error(std::string_view text) {
    std::string e;
    auto f = fault_from_json(boost::json::parse(text), e);
    return f ? "ok" : e;
}

active_fault make(fault_type t, double p, std::string prefix = "/", std::uint64_t id = 1) {
    config::fault f;
    f.type = t;
    f.probability = p;
    f.path_prefix = std::move(prefix);
    return {id, f, true, std::chrono::steady_clock::now()};
}

} // namespace

TEST_CASE("fault header values: a type with parameters", "[faults]") {
    std::string e;
    auto f = fault_from_header("response_delay;delay=2s;jitter=100ms", e);
    REQUIRE(f);
    CHECK(f->type == fault_type::response_delay);
    CHECK(f->delay == 2000ms);
    CHECK(f->jitter == 100ms);
    CHECK(f->probability == 1.0);

    f = fault_from_header(" blackhole ; probability = 0.5 ; path_prefix=/api ", e);
    REQUIRE(f);
    CHECK(f->type == fault_type::blackhole);
    CHECK(f->probability == 0.5);
    CHECK(f->path_prefix == "/api");

    CHECK(header_error("meteor").starts_with("\"meteor\" is not a fault type"));
    CHECK(header_error("response_delay;delay=2") == "delay: " + [] {
        std::string why;
        config::parse_duration("2", why);
        return why;
    }());
    CHECK(header_error("reset;probability=2") == "probability: must be from 0 to 1");
    CHECK(header_error("reset;probability=x") == "probability: \"x\" is not a number");
    CHECK(header_error("reset;colour=red") ==
          "\"colour\" is not a fault parameter (delay, jitter, probability, path_prefix)");
    CHECK(header_error("reset;delay") == "delay: expected key=value");
    CHECK(header_error("reset;path_prefix=api") == "path_prefix: must start with \"/\"");
}

TEST_CASE("fault JSON: every field, and errors that name the field", "[faults]") {
    std::string e;
    auto f = fault_from_json(boost::json::parse(R"({"type":"connect_delay","probability":0.5,"path_prefix":"/x",
        "delay":"2s","jitter":"1s","schedule":{"up":"30s","down":"10s"}})"), e);
    REQUIRE(f);
    CHECK(f->type == fault_type::connect_delay);
    CHECK(f->probability == 0.5);
    CHECK(f->path_prefix == "/x");
    CHECK(f->delay == 2s);
    CHECK(f->jitter == 1s);
    CHECK(f->up == 30s);
    CHECK(f->down == 10s);
    CHECK(json_error(R"({"type":"blackhole","probability":1,"schedule":{}})") == "ok");

    CHECK(json_error("[1]") == "expected a JSON object such as {\"type\":\"blackhole\"}");
    CHECK(json_error("{}") == "type: missing, e.g. {\"type\":\"blackhole\"}");
    CHECK(json_error(R"({"type":3})") == "type: expected a string");
    CHECK(json_error(R"({"type":"meteor"})").starts_with("type: \"meteor\" is not a fault type"));
    CHECK(json_error(R"({"type":"reset","probability":1.5})") == "probability: must be from 0 to 1");
    CHECK(json_error(R"({"type":"reset","probability":"1"})") == "probability: expected a number from 0 to 1");
    CHECK(json_error(R"({"type":"reset","delay":5})") == "delay: expected a duration string such as \"2s\" or \"250ms\"");
    CHECK(json_error(R"({"type":"reset","jitter":"5"})").starts_with("jitter: "));
    CHECK(json_error(R"({"type":"reset","path_prefix":"x"})") == "path_prefix: must start with \"/\"");
    CHECK(json_error(R"({"type":"reset","schedule":{"up":"1s"}})").starts_with("schedule: needs both up and down"));
    CHECK(json_error(R"({"type":"reset","schedule":{"up":"1s","dwn":"1s"}})") == "schedule.dwn: unknown field (up, down)");
    CHECK(json_error(R"({"type":"reset","propability":1})") ==
          "propability: unknown field (type, probability, path_prefix, delay, jitter, schedule)");
}

TEST_CASE("fault JSON round trip", "[faults]") {
    active_fault a = make(fault_type::response_delay, 0.5, "/api", 9);
    a.spec.delay = 2s;
    a.spec.up = 30s;
    a.spec.down = 10s;
    auto o = fault_to_json(a);
    CHECK(o.at("id").as_uint64() == 9);
    CHECK(o.at("source").as_string() == "runtime");
    CHECK(o.at("type").as_string() == "response_delay");
    std::string e;
    boost::json::object input = o;
    input.erase("id");
    input.erase("source");
    auto back = fault_from_json(input, e);
    REQUIRE(back);
    CHECK(*back == a.spec);
}

TEST_CASE("decisions: probability 0 and 1 are exact, the rest repeatable from (seed, sequence)", "[faults]") {
    std::vector<active_fault> never{make(fault_type::reset, 0.0)};
    std::vector<active_fault> always{make(fault_type::reset, 1.0)};
    std::vector<active_fault> half{make(fault_type::reset, 0.5)};
    auto const now = std::chrono::steady_clock::now();
    int hits = 0;
    std::string pattern, again, other;
    for (std::uint64_t seq = 1; seq <= 2000; ++seq) {
        CHECK_FALSE(decide(never, "/", fault_draw{42, seq}, now));
        CHECK(decide(always, "/", fault_draw{42, seq}, now));
        bool const h = decide(half, "/", fault_draw{42, seq}, now).has_value();
        hits += h;
        if (seq <= 64) {
            pattern += h ? '1' : '0';
            again += decide(half, "/", fault_draw{42, seq}, now) ? '1' : '0';
            other += decide(half, "/", fault_draw{43, seq}, now) ? '1' : '0';
        }
    }
    CHECK(hits > 900);
    CHECK(hits < 1100);
    CHECK(pattern == again);
    CHECK(pattern != other);
}

TEST_CASE("decisions: path_prefix, the first fault that applies, and schedules", "[faults]") {
    auto const now = std::chrono::steady_clock::now();
    std::vector<active_fault> list{make(fault_type::refuse, 1.0, "/api", 1), make(fault_type::reset, 1.0, "/", 2)};
    auto c = decide(list, "/api/x", fault_draw{1, 1}, now);
    REQUIRE(c);
    CHECK(c->id == 1);
    c = decide(list, "/other", fault_draw{1, 1}, now);
    REQUIRE(c);
    CHECK(c->id == 2);
    CHECK(c->prefix() == "emulated fault reset (id 2): ");

    auto flapping = make(fault_type::reset, 1.0);
    flapping.spec.up = 300ms;
    flapping.spec.down = 100ms;
    std::vector<active_fault> f{flapping};
    auto const t0 = flapping.created;
    CHECK_FALSE(decide(f, "/", fault_draw{1, 1}, t0));
    CHECK_FALSE(decide(f, "/", fault_draw{1, 1}, t0 + 299ms));
    CHECK(decide(f, "/", fault_draw{1, 1}, t0 + 300ms));
    CHECK(decide(f, "/", fault_draw{1, 1}, t0 + 399ms));
    CHECK_FALSE(decide(f, "/", fault_draw{1, 1}, t0 + 400ms));
    CHECK(decide(f, "/", fault_draw{1, 1}, t0 + 750ms));
}

TEST_CASE("decisions: delays within delay +- jitter, SYN losses at Cloudflare's gaps", "[faults]") {
    config::fault d;
    d.type = fault_type::response_delay;
    d.delay = 1000ms;
    d.jitter = 200ms;
    for (std::uint64_t seq = 1; seq < 500; ++seq) {
        auto c = decide_one(d, 1, fault_draw{5, seq});
        REQUIRE(c);
        CHECK(c->delay >= 800ms);
        CHECK(c->delay <= 1200ms);
    }
    d.jitter = 5000ms;  // never below 0
    for (std::uint64_t seq = 1; seq < 100; ++seq) CHECK(decide_one(d, 1, fault_draw{5, seq})->delay >= 0ms);

    config::fault s;
    s.type = fault_type::syn_loss;
    s.probability = 1.0;
    CHECK(decide_one(s, 1, fault_draw{1, 1})->syns_lost == max_syns);
    CHECK(decide_one(s, 1, fault_draw{1, 1})->prefix() == "emulated fault syn_loss (id 1, 9 SYNs lost): ");
    s.probability = 0.0;
    auto none = decide_one(s, 1, fault_draw{1, 1});
    REQUIRE(none);  // syn_loss applies; its probability is per SYN
    CHECK(none->syns_lost == 0);
    CHECK(syn_offset(0) == 0s);
    CHECK(syn_offset(1) == 1s);
    CHECK(syn_offset(5) == 5s);
    CHECK(syn_offset(6) == 7s);
    CHECK(syn_offset(7) == 11s);
    CHECK(syn_offset(8) == 19s);
    // At most the SYNs sent before the deadline are lost: at 2 s, the ones at 0 and 1 s.
    CHECK(syns_before(2s) == 2);
    CHECK(syns_before(2001ms) == 3);
    CHECK(syns_before(19s) == 8);
    CHECK(syns_before(20s) == max_syns);
    CHECK(syns_before(0s) == 0);
}

TEST_CASE("registry: config faults replaced on reload, run-time ones kept while their origin exists", "[faults]") {
    fault_registry r;
    CHECK_FALSE(r.any());
    config::config cfg;
    cfg.origins.resize(2);
    cfg.origins[0].name = "a";
    cfg.origins[1].name = "b";
    cfg.origins[0].faults.push_back(make(fault_type::blackhole, 1).spec);
    r.load_config(cfg);
    CHECK(r.any());
    auto t = r.snapshot();
    REQUIRE(t->of("a"));
    CHECK(t->of("a")->size() == 1);
    CHECK_FALSE(t->of("a")->front().runtime);
    CHECK(t->of("b") == nullptr);

    auto const id_b = r.add("b", make(fault_type::reset, 1).spec);
    auto const id_a = r.add("a", make(fault_type::refuse, 1).spec);
    CHECK(r.snapshot()->of("a")->size() == 2);
    CHECK(t->of("a")->size() == 1);  // a published table never changes

    r.load_config(cfg);  // a reload: config faults new, run-time ones kept
    CHECK(r.snapshot()->of("a")->size() == 2);
    CHECK(r.snapshot()->of("b")->size() == 1);

    CHECK_FALSE(r.remove("a", id_b));
    CHECK(r.remove("b", id_b));
    CHECK_FALSE(r.remove("b", id_b));
    CHECK(r.snapshot()->of("b") == nullptr);

    r.clear("a");  // config faults too, until the next reload
    CHECK(r.snapshot()->of("a") == nullptr);
    CHECK_FALSE(r.any());
    r.load_config(cfg);
    CHECK(r.snapshot()->of("a")->size() == 1);

    r.add("b", make(fault_type::reset, 1).spec);
    r.reset();  // every run-time fault; config ones stay
    CHECK(r.snapshot()->of("a")->size() == 1);
    CHECK(r.snapshot()->of("b") == nullptr);

    auto const again = r.add("b", make(fault_type::reset, 1).spec);
    CHECK(again > id_a);
    cfg.origins.pop_back();  // origin b is gone: its run-time faults with it
    r.load_config(cfg);
    CHECK(r.snapshot()->of("b") == nullptr);
}
