// The newcomer's tools: edge522 tarpit, probe, demo.
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace edge522::test;
using namespace std::chrono_literals;

TEST_CASE("tools: tarpit blackhole: the edge answers 522 at its connect deadline", "[tools][tarpit]") {
    background tp({"tarpit", "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"}, "tarpit listening on ", 2);
    REQUIRE(tp.ports().size() == 2);
    CHECK(tp.ports()[0] != 0);
    edge e(simple_config({"127.0.0.1:" + std::to_string(tp.ports()[1])}, "connect = \"300ms\""));
    auto r = get(e.port());
    CHECK(r.status == 522);
    CHECK(r.seconds >= 0.29);
    CHECK(r.seconds < 1.0);
}

TEST_CASE("tools: tarpit refuse and silent: 521 at once, 524 at the read timeout", "[tools][tarpit]") {
    background refuse({"tarpit", "--listen", "127.0.0.1:0", "--mode", "refuse"}, "tarpit listening on ");
    background silent({"tarpit", "--listen", "127.0.0.1:0", "--mode", "silent"}, "tarpit listening on ");
    edge e1(simple_config({"127.0.0.1:" + std::to_string(refuse.ports()[0])}));
    CHECK(get(e1.port()).status == 521);
    edge e2(simple_config({"127.0.0.1:" + std::to_string(silent.ports()[0])}, "read = \"300ms\""));
    auto r = get(e2.port());
    CHECK(r.status == 524);
    CHECK(r.seconds >= 0.29);
}

TEST_CASE("tools: tarpit: a bad listen address exits 2", "[tools][tarpit]") {
    auto r = run_edge({"tarpit", "--listen", "nonsense"});
    CHECK(r.exit_code == 2);
}

TEST_CASE("tools: probe: the code an edge would answer, with times, cause and fix", "[tools][probe]") {
    refusing_origin ro;
    auto r = run_edge({"probe", ro.address(), "--json"});
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("\"code\":521") != std::string::npos);
    // The same words as the edge's Edge522-Diagnosis header (proxy/diagnosis.cpp).
    CHECK(r.output.find("refused after") != std::string::npos);
    CHECK(r.output.find("\"fix\":\"") != std::string::npos);
    CHECK(r.output.find("\"connect_ms\":") != std::string::npos);

    blackholed_origin bh;
    auto t0 = clock_type::now();
    r = run_edge({"probe", bh.address(), "--connect-timeout", "300ms", "--json"});
    double s = std::chrono::duration<double>(clock_type::now() - t0).count();
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("\"code\":522") != std::string::npos);
    CHECK(s >= 0.29);

    origin healthy(origin::behaviour::healthy);
    r = run_edge({"probe", "http://" + healthy.address() + "/health"});
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("edge answer: 200 (reachable)") != std::string::npos);
    CHECK(healthy.last_head().find("GET /health HTTP/1.1") == 0);

    origin silent(origin::behaviour::silent);
    r = run_edge({"probe", "http://" + silent.address() + "/", "--read-timeout", "300ms", "--json"});
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("\"code\":524") != std::string::npos);

    origin garbage(origin::behaviour::garbage);
    r = run_edge({"probe", "http://" + garbage.address() + "/", "--json"});
    CHECK(r.output.find("\"code\":520") != std::string::npos);

    r = run_edge({"probe", "127.0.0.1:3000", "--from", "127.0.0.5", "--json"});
    CHECK(r.output.find("\"source\":\"127.0.0.5\"") != std::string::npos);  // refused, but from there

    CHECK(run_edge({"probe", "ftp://x/"}).exit_code == 2);
    CHECK(run_edge({"probe", "no-port"}).exit_code == 2);
}

TEST_CASE("tools: demo: one edge, five demo origins, the five answers", "[tools][demo]") {
    background demo({"demo", "--listen", "127.0.0.1:0"}, "edge522 listening on http://");
    auto port = demo.ports().at(0);
    CHECK(demo.output().find("curl -i -H 'Host: timeout.localhost'") != std::string::npos);
    auto slow = std::async(std::launch::async, [&] { return get(port, "/", "slow.localhost"); });
    auto timeout = std::async(std::launch::async, [&] { return get(port, "/", "timeout.localhost"); });
    CHECK(get(port, "/", "ok.localhost").status == 200);
    CHECK(get(port, "/", "down.localhost").status == 521);
    CHECK(get(port, "/", "broken.localhost").status == 520);
    auto t = timeout.get();
    CHECK(t.status == 522);
    CHECK(t.seconds >= 2.99);
    auto s = slow.get();
    CHECK(s.status == 524);
    CHECK(s.seconds >= 4.99);
}

TEST_CASE("tools: probe's read deadline, met and missed", "[tools][probe]") {
    origin slow(origin::behaviour::slow, std::chrono::milliseconds(400));
    auto r = run_edge({"probe", "http://" + slow.address() + "/", "--read-timeout", "3s", "--json"});
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("\"code\":200") != std::string::npos);
    r = run_edge({"probe", "http://" + slow.address() + "/", "--read-timeout", "200ms", "--json"});
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("\"code\":524") != std::string::npos);
    // A read timeout equal to the origin's delay: whichever wins, the probe answers and exits cleanly.
    for (int i = 0; i < 5; ++i) {
        r = run_edge({"probe", "http://" + slow.address() + "/", "--read-timeout", "400ms", "--json"});
        CHECK((r.exit_code == 0 || r.exit_code == 1));
        CHECK(r.output.find("\"code\":") != std::string::npos);
    }
}

TEST_CASE("tools: probe: bad targets and options exit 2 with one message", "[tools][probe]") {
    for (auto const& args : std::vector<std::vector<std::string>>{
             {"probe", "http://127.0.0.1:99999/"}, {"probe", "http:///path"}, {"probe", "127.0.0.1:3000", "--from", "nonsense"},
             {"probe", "127.0.0.1:3000", "--connect-timeout", "0s"}, {"probe", "127.0.0.1:3000", "--read-timeout", "soon"},
             {"probe", "127.0.0.1:99999"}}) {
        auto r = run_edge(args);
        INFO(args[1] << " -> " << r.output);
        CHECK(r.exit_code == 2);
        CHECK(r.output.find("edge522 probe: ") != std::string::npos);
    }
}

TEST_CASE("tools: tarpit and demo on a port in use exit 2 with one message", "[tools][tarpit][demo]") {
    origin busy(origin::behaviour::healthy);
    for (std::string mode : {"blackhole", "silent"}) {
        auto r = run_edge({"tarpit", "--listen", busy.address(), "--mode", mode});
        INFO(mode << ": " << r.output);
        CHECK(r.exit_code == 2);
        CHECK(r.output.find("edge522 tarpit: cannot listen on " + busy.address()) != std::string::npos);
    }
    auto r = run_edge({"demo", "--listen", busy.address()});
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("cannot listen on " + busy.address()) != std::string::npos);
    CHECK(run_edge({"demo", "--listen", "nonsense"}).exit_code == 2);
}
