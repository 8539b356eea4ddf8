// The admin API on its own listener: health, Prometheus metrics, origins, reload, token.
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace edge522::test;
using namespace std::chrono_literals;

namespace {

response admin_call(std::uint16_t port, std::string const& method, std::string const& target,
                    std::string const& extra = "") {
    client c(port);
    return c.request(method + " " + target + " HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n" + extra + "\r\n");
}

} // namespace

TEST_CASE("admin: healthz, metrics, origins; the edge port never reaches it", "[admin]") {
    origin o(origin::behaviour::healthy);
    refusing_origin ro;
    edge e(simple_config({o.address()}, "", "", "threads = 2", "listen = \"127.0.0.1:0\""));
    auto ap = e.admin_port();
    REQUIRE(ap != 0);
    auto h = admin_call(ap, "GET", "/healthz");
    CHECK(h.status == 200);
    CHECK(h.body == "ok\n");

    for (int i = 0; i < 3; ++i) CHECK(get(e.port()).status == 200);
    CHECK(get(e.port(), "/cdn-cgi/error/522").status == 522);
    // Requests are counted as their exchange ends, just after the client has its answer.
    response m;
    for (int i = 0; i < 50; ++i) {
        m = admin_call(ap, "GET", "/metrics");
        if (m.body.find("code=\"522\"") != std::string::npos) break;
        std::this_thread::sleep_for(20ms);
    }
    CHECK(m.status == 200);
    CHECK(m.body.find("edge522_requests_total{origin=\"app\",code=\"200\"} 3\n") != std::string::npos);
    CHECK(m.body.find("edge522_requests_total{origin=\"\",code=\"522\"} 1\n") != std::string::npos);
    CHECK(m.body.find("edge522_origin_connect_seconds_count{origin=\"app\"}") != std::string::npos);
    CHECK(m.body.find("edge522_connections_active ") != std::string::npos);
    CHECK(m.body.find("edge522_origin_connects_pending 0\n") != std::string::npos);

    auto origins = admin_call(ap, "GET", "/origins");
    CHECK(origins.status == 200);
    CHECK(origins.body.find("\"name\":\"app\"") != std::string::npos);
    CHECK(origins.body.find(o.address()) != std::string::npos);

    CHECK(admin_call(ap, "GET", "/nope").status == 404);
    CHECK(admin_call(ap, "DELETE", "/origins/ghost/faults").status == 404);
    CHECK(admin_call(ap, "POST", "/origins/app/faults").status == 501);

    // The same path on the edge port goes to the origin, not to the admin API.
    auto through = get(e.port(), "/healthz");
    CHECK(through.status == 200);
    CHECK(through.body.find("GET /healthz") == 0);
}

TEST_CASE("admin: a token guards every request", "[admin]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\"\ntoken = \"s3cret\""));
    auto ap = e.admin_port();
    CHECK(admin_call(ap, "GET", "/healthz").status == 401);
    CHECK(admin_call(ap, "GET", "/healthz", "Authorization: Bearer wrong\r\n").status == 401);
    CHECK(admin_call(ap, "GET", "/healthz", "Authorization: Bearer s3cret\r\n").status == 200);
}

TEST_CASE("admin: POST /reload applies a valid file, answers 400 with the errors otherwise", "[admin]") {
    origin a(origin::behaviour::healthy);
    refusing_origin ro;
    edge e(simple_config({ro.address()}, "", "", "", "listen = \"127.0.0.1:0\""));
    auto ap = e.admin_port();
    CHECK(get(e.port()).status == 521);
    std::ofstream(e.config_path(), std::ios::trunc)
        << simple_config({a.address()}, "", "", "", "listen = \"127.0.0.1:" + std::to_string(ap) + "\"");
    CHECK(admin_call(ap, "POST", "/reload").status == 200);
    CHECK(get(e.port()).status == 200);
    std::ofstream(e.config_path(), std::ios::trunc) << "[timeouts]\nread = 5\n";
    auto bad = admin_call(ap, "POST", "/reload");
    CHECK(bad.status == 400);
    CHECK(bad.body.find("edge.toml:2:") != std::string::npos);
    CHECK(get(e.port()).status == 200);
}
