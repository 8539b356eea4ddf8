// The newcomer's tools: edge522 tarpit.
#include "harness.hpp"

#include <catch2/catch.hpp>

using namespace edge522::test;
using namespace std::chrono_literals;

TEST_CASE("tarpit blackhole: the edge answers 522 at its connect deadline", "[tools][tarpit]") {
    background tp({"tarpit", "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"}, "tarpit listening on ", 2);
    REQUIRE(tp.ports().size() == 2);
    CHECK(tp.ports()[0] != 0);
    edge e(simple_config({"127.0.0.1:" + std::to_string(tp.ports()[1])}, "connect = \"300ms\""));
    auto r = get(e.port());
    CHECK(r.status == 522);
    CHECK(r.seconds >= 0.29);
    CHECK(r.seconds < 1.0);
}

TEST_CASE("tarpit refuse and silent: 521 at once, 524 at the read timeout", "[tools][tarpit]") {
    background refuse({"tarpit", "--listen", "127.0.0.1:0", "--mode", "refuse"}, "tarpit listening on ");
    background silent({"tarpit", "--listen", "127.0.0.1:0", "--mode", "silent"}, "tarpit listening on ");
    edge e1(simple_config({"127.0.0.1:" + std::to_string(refuse.ports()[0])}));
    CHECK(get(e1.port()).status == 521);
    edge e2(simple_config({"127.0.0.1:" + std::to_string(silent.ports()[0])}, "read = \"300ms\""));
    auto r = get(e2.port());
    CHECK(r.status == 524);
    CHECK(r.seconds >= 0.29);
}

TEST_CASE("tarpit: a bad listen address exits 2", "[tools][tarpit]") {
    auto r = run_edge({"tarpit", "--listen", "nonsense"});
    CHECK(r.exit_code == 2);
}
