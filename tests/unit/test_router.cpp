#include "proxy/router.hpp"

#include <catch2/catch.hpp>

using namespace edge522;

TEST_CASE("host_without_port lowercases and strips the port", "[router]") {
    CHECK(host_without_port("Example.COM:8080") == "example.com");
    CHECK(host_without_port("example.com") == "example.com");
    CHECK(host_without_port("example.com.") == "example.com");
    CHECK(host_without_port("[::1]:8080") == "[::1]");
    CHECK(host_without_port("[::1]") == "[::1]");
    CHECK(host_without_port("127.0.0.1:80") == "127.0.0.1");
    CHECK(host_without_port("") == "");
}

TEST_CASE("host_matches: *, *.suffix, exact", "[router]") {
    CHECK(host_matches("*", "anything.test"));
    CHECK(host_matches("*", ""));
    CHECK(host_matches("*.example.test", "www.example.test"));
    CHECK(host_matches("*.example.test", "a.b.example.test"));
    CHECK_FALSE(host_matches("*.example.test", "example.test"));
    CHECK_FALSE(host_matches("*.example.test", "badexample.test"));
    CHECK(host_matches("api.example.test", "api.example.test"));
    CHECK_FALSE(host_matches("api.example.test", "www.api.example.test"));
}

TEST_CASE("router: the first origin whose hosts match wins", "[router]") {
    config::config cfg;
    config::origin api;
    api.name = "api";
    api.hosts = {"api.example.test"};
    config::origin wild;
    wild.name = "wild";
    wild.hosts = {"*.example.test"};
    config::origin other;
    other.name = "other";
    other.hosts = {"other.test", "*.other.test"};
    cfg.origins = {api, wild, other};
    router r(cfg);
    REQUIRE(r.route("api.example.test"));
    CHECK(r.route("api.example.test")->name == "api");
    CHECK(r.route("www.example.test")->name == "wild");
    CHECK(r.route("x.other.test")->name == "other");
    CHECK(r.route("other.test")->name == "other");
    CHECK(r.route("nothing.test") == nullptr);

    cfg.origins.push_back(config::origin{});  // hosts = ["*"] by default
    cfg.origins.back().name = "catchall";
    router r2(cfg);
    CHECK(r2.route("nothing.test")->name == "catchall");
}
