// Emulated faults (SPEC section 5) from the config, the request header, the admin API and the
// `edge522 fault` command line: each type's code and timing, decisions, and their bookkeeping.
#include "harness.hpp"

#include "proxy/faults.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <future>
#include <thread>

using namespace edge522::test;
using namespace std::chrono_literals;

namespace {

constexpr char const* fault_header = "x-edge522-fault";

response admin_call(std::uint16_t port, std::string const& method, std::string const& target,
                    std::string const& body = "", std::string const& extra = "") {
    client c(port);
    return c.request(method + " " + target + " HTTP/1.1\r\nHost: admin\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body);
}

response with_fault(std::uint16_t port, std::string const& value, std::string const& target = "/") {
    return get(port, target, "app.test", std::string(fault_header) + ": " + value + "\r\n");
}

std::string chaos(std::string const& extra = "") {
    return "\n[chaos]\nheader = \"" + std::string(fault_header) + "\"\n" + extra + "\n";
}

bool has(std::string const& hay, std::string const& needle) { return hay.find(needle) != std::string::npos; }

} // namespace

TEST_CASE("chaos: blackhole from the config answers 522 at the connect deadline, never early", "[chaos]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "connect = \"1s\"", "[[origins.faults]]\ntype = \"blackhole\"\n"));
    auto r = get(e.port());
    CHECK(r.status == 522);
    CHECK(r.seconds >= 1.0);
    CHECK(r.seconds < 1.5);
    CHECK(has(r.header("edge522-diagnosis"),
              "emulated fault blackhole (id 1): TCP handshake with " + o.address() + " not completed within 1s"));
    CHECK(o.connections() == 0);  // no SYN left
    CHECK(e.log_contains("fault=blackhole fault_id=1"));
}

TEST_CASE("chaos: refuse 521, unreachable 523, dns_fail 530 at once, from the request header", "[chaos]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}) + chaos());
    struct row {
        std::string value;
        int status;
        std::string words;
    };
    for (auto const& [value, status, words] :
         {row{"refuse", 521, "refused"}, row{"unreachable", 523, "no route"}, row{"dns_fail", 530, "resolving"}}) {
        INFO(value);
        auto r = with_fault(e.port(), value);
        CHECK(r.status == status);
        CHECK(r.seconds < 0.5);
        CHECK(r.header("edge522-diagnosis").starts_with("emulated fault " + value + " (request header): "));
        CHECK(has(r.header("edge522-diagnosis"), words));
    }
    CHECK(o.connections() == 0);
    // The header is never forwarded, and a request without it is untouched.
    auto ok = get(e.port());
    CHECK(ok.status == 200);
    CHECK_FALSE(has(ok.body, fault_header));
    CHECK(e.log_contains("fault=dns_fail fault_id=header"));
}

TEST_CASE("chaos: reset, empty and garbage answer 520 whatever the origin does", "[chaos]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}) + chaos());
    struct row {
        std::string value;
        std::string failure;
    };
    for (auto const& [value, failure] : {row{"reset", "reset the connection"}, row{"empty", "without a response"},
                                         row{"garbage", "not an HTTP response"}}) {
        INFO(value);
        auto r = with_fault(e.port(), value);
        CHECK(r.status == 520);
        CHECK(r.seconds < 0.5);
        CHECK(has(r.header("edge522-diagnosis"), "emulated fault " + value + " (request header): "));
        CHECK(has(r.header("edge522-diagnosis"), failure));
    }
    // The origin got each request (it counts them as it reads them); its answer was replaced.
    for (int i = 0; i < 100 && o.requests() < 3; ++i) std::this_thread::sleep_for(10ms);
    CHECK(o.requests() == 3);
    CHECK(get(e.port()).status == 200);
}

TEST_CASE("chaos: syn_loss connects late by whole seconds, or 522 at the deadline", "[chaos]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "connect = \"2500ms\"", "", "threads = 2") + chaos("seed = 7"));
    auto lost = with_fault(e.port(), "syn_loss;probability=1");
    CHECK(lost.status == 522);
    CHECK(lost.seconds >= 2.5);
    CHECK(lost.seconds < 3.0);
    // Only the SYNs sent before the deadline count as lost: at 0, 1 and 2 s (it said 9).
    CHECK(has(lost.header("edge522-diagnosis"), "emulated fault syn_loss (request header, 3 SYNs lost): "));
    auto none = with_fault(e.port(), "syn_loss;probability=0");
    CHECK(none.status == 200);
    CHECK(none.seconds < 0.5);

    // Half the SYNs lost: each answer is 200 a whole number of seconds late (0, 1 or 2: SYNs at 0,
    // 1, 2 s), or 522 at 2.5 s.
    std::vector<std::future<response>> pending;
    for (int i = 0; i < 6; ++i)
        pending.push_back(std::async(std::launch::async, [&] { return with_fault(e.port(), "syn_loss;probability=0.5"); }));
    for (auto& p : pending) {
        auto r = p.get();
        INFO(r.status << " after " << r.seconds << " s");
        if (r.status == 200) {
            double const whole = std::floor(r.seconds);
            CHECK(r.seconds - whole < 0.4);
            CHECK(whole <= 2);
        } else {
            CHECK(r.status == 522);
            CHECK(r.seconds >= 2.5);
            CHECK(r.seconds < 3.0);
        }
    }
}

TEST_CASE("chaos: connect_delay and response_delay: 200 late, or 522 / 524 past the deadline", "[chaos]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "connect = \"1s\"\nread = \"1s\"") + chaos());
    auto slow = with_fault(e.port(), "connect_delay;delay=400ms;jitter=100ms");
    CHECK(slow.status == 200);
    CHECK(slow.seconds >= 0.3);
    CHECK(slow.seconds < 0.8);
    auto late = with_fault(e.port(), "connect_delay;delay=3s");
    CHECK(late.status == 522);
    CHECK(late.seconds >= 1.0);
    CHECK(late.seconds < 1.5);
    CHECK(has(late.header("edge522-diagnosis"), "emulated fault connect_delay (request header): TCP handshake"));

    auto held = with_fault(e.port(), "response_delay;delay=400ms");
    CHECK(held.status == 200);
    CHECK(held.seconds >= 0.4);
    CHECK(held.seconds < 0.9);
    auto timeout = with_fault(e.port(), "response_delay;delay=2s");
    CHECK(timeout.status == 524);
    CHECK(timeout.seconds >= 1.0);
    CHECK(timeout.seconds < 1.5);
    CHECK(has(timeout.header("edge522-diagnosis"), "emulated fault response_delay (request header): no response head"));
}

TEST_CASE("chaos: no_ack answers 522 at request_ack", "[chaos]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "request_ack = \"1s\"") + chaos());
    auto r = with_fault(e.port(), "no_ack");
    CHECK(r.status == 522);
    CHECK(r.seconds >= 1.0);
    CHECK(r.seconds < 1.5);
    CHECK(has(r.header("edge522-diagnosis"), "emulated fault no_ack (request header): origin " + o.address() +
                                                  " did not ACK the request within 1s"));
    CHECK(e.log_contains("failure=request_not_acked"));
}

TEST_CASE("chaos: a bad fault header gets 400 naming what is wrong", "[chaos]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}) + chaos());
    auto r = with_fault(e.port(), "meteor");
    CHECK(r.status == 400);
    CHECK(has(r.header("edge522-diagnosis"), "x-edge522-fault: \"meteor\" is not a fault type"));
    r = with_fault(e.port(), "response_delay;delay=2");
    CHECK(r.status == 400);
    CHECK(has(r.header("edge522-diagnosis"), "x-edge522-fault: delay: "));
    r = with_fault(e.port(), "tls_flail");
    CHECK(r.status == 400);
    CHECK(has(r.header("edge522-diagnosis"), "\"tls_flail\" is not a fault type"));
    CHECK(o.requests() == 0);
}

TEST_CASE("chaos: with a seed, decisions repeat exactly, with one worker or two", "[chaos]") {
    origin o(origin::behaviour::healthy);
    auto const faults = "[[origins.faults]]\ntype = \"reset\"\nprobability = 0.5\n";
    // What the edge must answer: fault 1 of the list, request sequence numbers from 1.
    std::vector<edge522::active_fault> list(1);
    list[0].id = 1;
    list[0].spec.type = edge522::config::fault_type::reset;
    list[0].spec.probability = 0.5;
    std::string expected;
    for (std::uint64_t seq = 1; seq <= 24; ++seq)
        expected += edge522::decide(list, "/", edge522::fault_draw{99, seq}, clock_type::now()) ? 'F' : '.';
    REQUIRE(has(expected, "F"));
    REQUIRE(has(expected, "."));
    for (char const* threads : {"threads = 1", "threads = 2"}) {
        INFO(threads);
        edge e(simple_config({o.address()}, "", faults, threads) + "\n[chaos]\nseed = 99\n");
        std::string got;
        for (int i = 0; i < 24; ++i) got += get(e.port()).status == 520 ? 'F' : '.';
        CHECK(got == expected);
    }
    edge never(simple_config({o.address()}, "", "[[origins.faults]]\ntype = \"reset\"\nprobability = 0\n") +
               "\n[chaos]\nseed = 99\n");
    edge always(simple_config({o.address()}, "", "[[origins.faults]]\ntype = \"reset\"\nprobability = 1\n") +
                "\n[chaos]\nseed = 99\n");
    for (int i = 0; i < 20; ++i) {
        CHECK(get(never.port()).status == 200);
        CHECK(get(always.port()).status == 520);
    }
}

TEST_CASE("chaos: path_prefix limits a fault to part of the site", "[chaos]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "[[origins.faults]]\ntype = \"refuse\"\npath_prefix = \"/api\"\n"));
    CHECK(get(e.port(), "/api/users").status == 521);
    CHECK(get(e.port(), "/").status == 200);
    CHECK(get(e.port(), "/ap").status == 200);
}

TEST_CASE("chaos: a schedule flaps: off for up, on for down, from the fault's creation", "[chaos]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\""));
    auto const ap = e.admin_port();
    auto added = admin_call(ap, "POST", "/origins/app/faults",
                            R"({"type":"refuse","schedule":{"up":"300ms","down":"300ms"}})");
    auto const t0 = clock_type::now();
    REQUIRE(added.status == 201);
    std::string got;
    for (auto at : {150ms, 450ms, 750ms, 1050ms}) {
        std::this_thread::sleep_until(t0 + at);
        got += get(e.port()).status == 521 ? 'F' : '.';
    }
    CHECK(got == ".F.F");
}

TEST_CASE("chaos: the admin API adds, lists and removes faults; bad input changes nothing", "[chaos][admin]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "[[origins.faults]]\ntype = \"refuse\"\npath_prefix = \"/down\"\n", "",
                         "listen = \"127.0.0.1:0\""));
    auto const ap = e.admin_port();
    auto list = admin_call(ap, "GET", "/origins");
    CHECK(has(list.body, R"("faults":[{"id":1,"source":"config","type":"refuse","probability":1E0,"path_prefix":"/down")"));

    auto added = admin_call(ap, "POST", "/origins/app/faults", R"({"type":"garbage","path_prefix":"/bad"})");
    CHECK(added.status == 201);
    CHECK(added.body == "{\"id\":2}\n");
    CHECK(get(e.port(), "/bad").status == 520);
    CHECK(get(e.port(), "/down").status == 521);
    list = admin_call(ap, "GET", "/origins");
    CHECK(has(list.body, R"({"id":2,"source":"runtime","type":"garbage")"));

    struct bad {
        std::string target, body;
        int status;
        std::string error;
    };
    for (auto const& b : {bad{"/origins/app/faults", "{", 400, "body: not JSON"},
                          bad{"/origins/app/faults", R"({"type":"meteor"})", 400, "type: \\\"meteor\\\" is not a fault type"},
                          bad{"/origins/app/faults", R"({"type":"reset","probability":2})", 400, "probability: must be from 0 to 1"},
                          bad{"/origins/app/faults", R"({"type":"reset","delay":"soon"})", 400, "delay: "},
                          bad{"/origins/app/faults", R"({"type":"reset","colour":"red"})", 400, "colour: unknown field"},
                          bad{"/origins/ghost/faults", R"({"type":"reset"})", 404, "unknown origin"}}) {
        INFO(b.body);
        auto r = admin_call(ap, "POST", b.target, b.body);
        CHECK(r.status == b.status);
        CHECK(r.header("content-type") == "application/json");
        CHECK(has(r.body, "{\"error\":\"" + b.error));
    }
    CHECK(admin_call(ap, "GET", "/origins").body == list.body);  // nothing changed

    CHECK(admin_call(ap, "DELETE", "/origins/app/faults/99").status == 404);
    CHECK(admin_call(ap, "DELETE", "/origins/app/faults/x").status == 404);
    CHECK(admin_call(ap, "DELETE", "/origins/ghost/faults/2").status == 404);
    CHECK(admin_call(ap, "DELETE", "/origins/app/faults/2").status == 204);
    CHECK(admin_call(ap, "DELETE", "/origins/app/faults/2").status == 404);
    CHECK(get(e.port(), "/bad").status == 200);

    CHECK(admin_call(ap, "POST", "/origins/app/faults", R"({"type":"reset"})").status == 201);
    CHECK(admin_call(ap, "POST", "/reset").status == 204);  // run-time faults only
    CHECK(get(e.port(), "/").status == 200);
    CHECK(get(e.port(), "/down").status == 521);
    CHECK(admin_call(ap, "DELETE", "/origins/app/faults").status == 204);  // the config's too
    CHECK(get(e.port(), "/down").status == 200);
    CHECK(has(admin_call(ap, "GET", "/origins").body, "\"faults\":[]"));
}

TEST_CASE("chaos: run-time faults survive a reload, config faults are replaced", "[chaos][reload]") {
    origin o(origin::behaviour::healthy);
    auto const admin = "listen = \"127.0.0.1:0\"";
    edge e(simple_config({o.address()}, "", "[[origins.faults]]\ntype = \"refuse\"\npath_prefix = \"/a\"\n", "", admin));
    auto const ap = e.admin_port();
    REQUIRE(admin_call(ap, "POST", "/origins/app/faults", R"({"type":"reset","path_prefix":"/b"})").status == 201);
    // The same file with another config fault.
    {
        std::ofstream out(e.config_path());
        out << simple_config({o.address()}, "", "[[origins.faults]]\ntype = \"unreachable\"\npath_prefix = \"/c\"\n",
                             "", admin);
    }
    REQUIRE(admin_call(ap, "POST", "/reload").status == 200);
    CHECK(get(e.port(), "/a").status == 200);
    CHECK(get(e.port(), "/b").status == 520);
    CHECK(get(e.port(), "/c").status == 523);
    auto list = admin_call(ap, "GET", "/origins").body;
    CHECK(has(list, R"("source":"config","type":"unreachable")"));
    CHECK(has(list, R"({"id":2,"source":"runtime","type":"reset")"));
}

TEST_CASE("chaos: metrics count exactly the faulted requests, and the faults in force", "[chaos][metrics]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "[[origins.faults]]\ntype = \"refuse\"\npath_prefix = \"/down\"\n",
                         "threads = 2", "listen = \"127.0.0.1:0\"") +
           chaos());
    auto const ap = e.admin_port();
    for (int i = 0; i < 3; ++i) CHECK(get(e.port(), "/down").status == 521);
    for (int i = 0; i < 2; ++i) CHECK(with_fault(e.port(), "empty").status == 520);
    for (int i = 0; i < 4; ++i) CHECK(get(e.port(), "/").status == 200);
    REQUIRE(admin_call(ap, "POST", "/origins/app/faults", R"({"type":"reset","path_prefix":"/never"})").status == 201);
    response m;
    for (int i = 0; i < 50; ++i) {
        m = admin_call(ap, "GET", "/metrics");
        if (has(m.body, "code=\"200\"} 4")) break;
        std::this_thread::sleep_for(20ms);
    }
    CHECK(has(m.body, "edge522_faults_applied_total{origin=\"app\",type=\"refuse\"} 3\n"));
    CHECK(has(m.body, "edge522_faults_applied_total{origin=\"app\",type=\"empty\"} 2\n"));
    CHECK_FALSE(has(m.body, "type=\"reset\""));
    CHECK(has(m.body, "edge522_faults_active{origin=\"app\"} 2\n"));
}

TEST_CASE("chaos: edge522 fault add, list, rm and reset through the admin API", "[chaos][cli]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\"\ntoken = \"s3cret\""));
    auto const admin = "127.0.0.1:" + std::to_string(e.admin_port());
    auto fault = [&](std::vector<std::string> args, bool token = true) {
        args.insert(args.begin(), {"fault", "--admin", admin});
        if (token) args.insert(args.end(), {"--token", "s3cret"});
        return run_edge(args);
    };
    auto added = fault({"add", "app", "response_delay", "--delay", "300ms", "--jitter", "10ms", "--path", "/slow",
                        "--probability", "1", "--schedule", "1h,1h"});
    CHECK(added.exit_code == 0);
    CHECK(has(added.output, "fault 1 added to app"));
    auto listed = fault({"list"});
    CHECK(listed.exit_code == 0);
    CHECK(has(listed.output, "app: 1 fault(s)"));
    CHECK(has(listed.output, "1  response_delay  (runtime)  probability=1"));
    CHECK(has(listed.output, "path_prefix=/slow delay=300ms jitter=10ms"));

    CHECK(fault({"add", "app", "refuse", "--path", "/down"}).exit_code == 0);
    CHECK(get(e.port(), "/down").status == 521);
    auto bad = fault({"add", "app", "reset", "--probability", "lots"});
    CHECK(bad.exit_code == 1);
    CHECK(has(bad.output, "400: probability: expected a number"));
    auto unknown = fault({"rm", "app", "42"});
    CHECK(unknown.exit_code == 1);
    CHECK(has(unknown.output, "404: unknown fault id"));
    CHECK(fault({"rm", "app", "2"}).exit_code == 0);
    CHECK(get(e.port(), "/down").status == 200);
    CHECK(fault({"reset"}).exit_code == 0);
    CHECK(has(fault({"list"}).output, "app: 0 fault(s)"));
    CHECK(fault({"rm", "app"}).exit_code == 0);

    auto denied = fault({"list"}, false);
    CHECK(denied.exit_code == 1);
    CHECK(has(denied.output, "401: missing or wrong bearer token"));
    refusing_origin nobody;
    auto down = run_edge({"fault", "--admin", nobody.address(), "list"});
    CHECK(down.exit_code == 2);
    CHECK(has(down.output, "cannot reach the admin API at " + nobody.address()));
}
