// The command line (SPEC section 2): the three ways to name the file `check` checks, and its
// exit codes (0 valid, 2 invalid with every error as FILE:LINE:COL: message).
#include "harness.hpp"

#include <catch2/catch.hpp>

using namespace edge522::test;

TEST_CASE("cli: check FILE, check --config FILE and --config FILE check all work", "[cli]") {
    auto good = write_temp("good.toml", simple_config({"127.0.0.1:3000"}));
    auto bad = write_temp("bad.toml", "[edge]\nlisten = [\"127.0.0.1:0\"]\n[timeouts]\nconnect = \"19\"\ntiemout = 1\n"
                                      "[[origins]]\nname = \"app\"\nservers = [\"127.0.0.1:3000\"]\n");
    for (auto const& args : std::vector<std::vector<std::string>>{
             {"check", good}, {"check", "--config", good}, {"--config", good, "check"},
             {"--config", good, "check", good}}) {
        auto r = run_edge(args);
        INFO(r.output);
        CHECK(r.exit_code == 0);
        CHECK(r.output.find(good + ": OK") != std::string::npos);
    }
    for (auto const& args : std::vector<std::vector<std::string>>{
             {"check", bad}, {"check", "--config", bad}, {"--config", bad, "check"}}) {
        auto r = run_edge(args);
        INFO(r.output);
        CHECK(r.exit_code == 2);
        CHECK(r.output.find(bad + ":4:11: ") != std::string::npos);
        CHECK(r.output.find(bad + ":5:1: ") != std::string::npos);
    }
}

TEST_CASE("cli: check without a file, with two files, or with a missing file exits 2", "[cli]") {
    auto good = write_temp("good.toml", simple_config({"127.0.0.1:3000"}));
    auto other = write_temp("other.toml", simple_config({"127.0.0.1:3001"}));
    auto r = run_edge({"check"});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("no file to check") != std::string::npos);
    r = run_edge({"check", good, "--config", other});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("more than one file") != std::string::npos);
    r = run_edge({"check", "/nonexistent/edge.toml"});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("/nonexistent/edge.toml: cannot read") != std::string::npos);
    r = run_edge({"--config", "/nonexistent/edge.toml"});  // serving: the same message, exit 2
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("/nonexistent/edge.toml: cannot read") != std::string::npos);
}

TEST_CASE("cli: the example config checks clean", "[cli]") {
    std::string here = __FILE__;  // CMake compiles with absolute paths
    auto root = here.substr(0, here.rfind("/tests/integration/"));
    auto r = run_edge({"check", root + "/config/edge522.toml"});
    INFO(r.output);
    CHECK(r.exit_code == 0);
}

TEST_CASE("cli: usage errors exit 2, --help 0", "[cli]") {
    CHECK(run_edge({"--help"}).exit_code == 0);
    CHECK(run_edge({"check", "--help"}).exit_code == 0);
    CHECK(run_edge({"chekc"}).exit_code == 2);
    CHECK(run_edge({"--no-such-flag"}).exit_code == 2);
    CHECK(run_edge({"--log-level", "loud"}).exit_code == 2);
    CHECK(run_edge({"tarpit"}).exit_code == 2);  // --listen is required
}
