// The admin API on its own listener: health, Prometheus metrics, origins, reload, token.
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <memory>
#include <thread>

#include <signal.h>

using namespace edge522::test;
using namespace std::chrono_literals;

namespace {

response admin_call(std::uint16_t port, std::string const& method, std::string const& target,
                    std::string const& extra = "") {
    client c(port);
    return c.request(method + " " + target + " HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n" + extra + "\r\n");
}

} // namespace

TEST_CASE("admin: a 522 lands in the connect histogram bucket of its deadline", "[admin]") {
    // Timed out at 1 s (and a fraction of a millisecond): counted in le="1", not le="2.5".
    blackholed_origin bh;
    edge e(simple_config({bh.address()}, "connect = \"1s\"", "", "", "listen = \"127.0.0.1:0\""));
    CHECK(get(e.port()).status == 522);
    response m;
    for (int i = 0; i < 50; ++i) {
        m = admin_call(e.admin_port(), "GET", "/metrics");
        if (m.body.find("edge522_origin_connect_seconds_count{origin=\"app\"} 1\n") != std::string::npos) break;
        std::this_thread::sleep_for(20ms);
    }
    CHECK(m.body.find("edge522_origin_connect_seconds_bucket{origin=\"app\",le=\"0.5\"} 0\n") != std::string::npos);
    CHECK(m.body.find("edge522_origin_connect_seconds_bucket{origin=\"app\",le=\"1\"} 1\n") != std::string::npos);
    CHECK(m.body.find("edge522_origin_connect_seconds_sum{origin=\"app\"} 1\n") != std::string::npos);
}

TEST_CASE("admin: healthz, metrics, origins, and the edge port never reaches it", "[admin]") {
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
        // Two workers count apart: wait for all four answers.
        if (m.body.find("code=\"522\"") != std::string::npos &&
            m.body.find("edge522_requests_total{origin=\"app\",code=\"200\"} 3\n") != std::string::npos)
            break;
        std::this_thread::sleep_for(20ms);
    }
    CHECK(m.status == 200);
    CHECK(m.body.find("edge522_requests_total{origin=\"app\",code=\"200\"} 3\n") != std::string::npos);
    // /cdn-cgi/error previews are counted apart, so they never trip a 522 alert.
    CHECK(m.body.find("edge522_requests_total{origin=\"cdn-cgi\",code=\"522\"} 1\n") != std::string::npos);
    CHECK(m.body.find("edge522_origin_connect_seconds_count{origin=\"app\"}") != std::string::npos);
    CHECK(m.body.find("edge522_connections_active ") != std::string::npos);
    CHECK(m.body.find("edge522_origin_connects_pending 0\n") != std::string::npos);

    auto origins = admin_call(ap, "GET", "/origins");
    CHECK(origins.status == 200);
    CHECK(origins.body.find("\"name\":\"app\"") != std::string::npos);
    CHECK(origins.body.find(o.address()) != std::string::npos);

    CHECK(admin_call(ap, "GET", "/nope").status == 404);
    CHECK(admin_call(ap, "DELETE", "/origins/ghost/faults").status == 404);
    CHECK(admin_call(ap, "POST", "/origins/app/faults").status == 400);  // no fault in the body

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

TEST_CASE("admin: edge522_reloads_total counts SIGHUP and POST /reload, ok and rejected", "[admin][reload]") {
    origin a(origin::behaviour::healthy);
    edge e(simple_config({a.address()}, "", "", "", "listen = \"127.0.0.1:0\""));
    auto ap = e.admin_port();
    auto const good = simple_config({a.address()}, "", "", "", "listen = \"127.0.0.1:" + std::to_string(ap) + "\"");
    auto counted = [&](int ok, int rejected) {
        auto const want = "edge522_reloads_total{result=\"ok\"} " + std::to_string(ok) +
                          "\nedge522_reloads_total{result=\"rejected\"} " + std::to_string(rejected) + "\n";
        response m;
        for (int i = 0; i < 100; ++i) {  // a SIGHUP is handled asynchronously: up to 2 s
            m = admin_call(ap, "GET", "/metrics");
            if (m.body.find(want) != std::string::npos) return true;
            std::this_thread::sleep_for(20ms);
        }
        INFO(m.body);
        return false;
    };
    CHECK(counted(0, 0));
    CHECK(admin_call(ap, "POST", "/reload").status == 200);
    CHECK(counted(1, 0));
    REQUIRE(::kill(e.pid(), SIGHUP) == 0);
    CHECK(counted(2, 0));
    std::ofstream(e.config_path(), std::ios::trunc) << "[timeouts]\nread = 5\n";
    CHECK(admin_call(ap, "POST", "/reload").status == 400);
    CHECK(counted(2, 1));
    REQUIRE(::kill(e.pid(), SIGHUP) == 0);
    CHECK(counted(2, 2));
    CHECK(get(e.port()).status == 200);  // the running config stayed
    std::ofstream(e.config_path(), std::ios::trunc) << good;
    REQUIRE(::kill(e.pid(), SIGHUP) == 0);
    CHECK(counted(3, 2));
}

TEST_CASE("admin: HEAD answers wherever GET does, with the same head and no body", "[admin]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\""));
    auto ap = e.admin_port();
    for (std::string path : {"/healthz", "/metrics", "/origins"}) {
        INFO(path);
        auto g = admin_call(ap, "GET", path);
        client c(ap);
        auto h = c.request("HEAD " + path + " HTTP/1.1\r\nHost: admin\r\n\r\n", true);
        CHECK(h.status == 200);
        CHECK(h.header("content-type") == g.header("content-type"));
        if (path != "/metrics")  // the metrics text changes between two scrapes
            CHECK(h.header("content-length") == std::to_string(g.body.size()));
        CHECK(!h.header("content-length").empty());
        CHECK(c.read_exactly(1).empty());  // no body: the next thing is the close
    }
    // What curl -I sends.
    client c(ap);
    auto h = c.request("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n", true);
    CHECK(h.status == 200);
    CHECK(h.header("content-length") == "3");
}

TEST_CASE("admin: a wrong method on a real path gets 405 with Allow and a JSON error", "[admin]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\""));
    auto ap = e.admin_port();
    struct row { std::string method, path, allow; };
    for (auto const& r : {row{"POST", "/healthz", "GET, HEAD"}, row{"DELETE", "/metrics", "GET, HEAD"},
                          row{"PUT", "/origins", "GET, HEAD"}, row{"GET", "/reload", "POST"},
                          row{"HEAD", "/reload", "POST"}, row{"GET", "/reset", "POST"},
                          row{"GET", "/origins/app/faults", "POST, DELETE"},
                          row{"POST", "/origins/app/faults/7", "DELETE"},
                          row{"FOO", "/healthz", "GET, HEAD"}, row{"get", "/healthz", "GET, HEAD"},
                          row{"OPTIONS", "/reload", "POST"}}) {
        INFO(r.method << " " << r.path);
        client c(ap);
        auto res = c.request(r.method + " " + r.path + " HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n",
                             r.method == "HEAD");
        CHECK(res.status == 405);
        CHECK(res.header("allow") == r.allow);
        CHECK(res.header("content-type") == "application/json");
        if (r.method != "HEAD") CHECK(res.body.find("\"error\":\"method not allowed\"") != std::string::npos);
    }
    // Paths that do not exist stay 404 whatever the method; allowed methods still work.
    CHECK(admin_call(ap, "POST", "/nope").status == 404);
    CHECK(admin_call(ap, "GET", "/origins/ghost/faults").status == 404);
    CHECK(admin_call(ap, "GET", "/origins/app").status == 404);
    CHECK(admin_call(ap, "DELETE", "/origins/app/faults/7").status == 404);  // no such fault
    CHECK(admin_call(ap, "POST", "/reset").status == 204);
}

TEST_CASE("admin: the Bearer scheme is case-insensitive, the token exact", "[admin]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\"\ntoken = \"s3cret\""));
    auto ap = e.admin_port();
    for (std::string ok : {"Bearer s3cret", "bearer s3cret", "BEARER s3cret", "bEaReR s3cret", "Bearer   s3cret"}) {
        INFO(ok);
        CHECK(admin_call(ap, "GET", "/healthz", "Authorization: " + ok + "\r\n").status == 200);
    }
    for (std::string bad : {"Bearer S3CRET", "Bearer s3cre", "Bearer s3crett", "Bearer", "Bearers3cret",
                            "Basic s3cret", "s3cret", "Bearer s3cret x", "Bearer \xff\xfe"}) {
        INFO(bad);
        auto r = admin_call(ap, "GET", "/healthz", "Authorization: " + bad + "\r\n");
        CHECK(r.status == 401);
        CHECK(r.header("www-authenticate") == "Bearer");
    }
    // HEAD and 405 sit behind the token too.
    client c(ap);
    CHECK(c.request("HEAD /healthz HTTP/1.1\r\nHost: a\r\nAuthorization: bearer s3cret\r\n\r\n", true).status == 200);
    CHECK(admin_call(ap, "POST", "/healthz").status == 401);
}

TEST_CASE("admin: a head over the limit gets 431, a body over the limit 413, hostile bytes 400/404", "[admin]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\""));
    auto ap = e.admin_port();
    {
        client c(ap);
        auto r = c.request("GET /healthz HTTP/1.1\r\nHost: admin\r\nX-Big: " + std::string(20 * 1024, 'a') + "\r\n\r\n");
        CHECK(r.status == 431);
        CHECK(r.body.find("\"error\"") != std::string::npos);
    }
    {
        client c(ap);  // many small fields add up too
        std::string head = "GET /healthz HTTP/1.1\r\nHost: admin\r\n";
        for (int i = 0; i < 2000; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
        CHECK(c.request(head + "\r\n").status == 431);
    }
    {
        client c(ap);
        auto r = c.request("POST /reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 200000\r\n\r\n" +
                           std::string(200000, 'x'));
        CHECK(r.status == 413);
    }
    {
        client c(ap);  // a chunked body that grows past the limit
        std::string chunk = std::string(32 * 1024, 'y');
        char size[16];
        std::snprintf(size, sizeof size, "%zx", chunk.size());
        std::string req = "POST /reload HTTP/1.1\r\nHost: admin\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (int i = 0; i < 4; ++i) req += std::string(size) + "\r\n" + chunk + "\r\n";
        CHECK(c.request(req + "0\r\n\r\n").status == 413);
    }
    {
        client c(ap);
        auto r = c.request("GET /\xff\xfe\x80 HTTP/1.1\r\nHost: admin\r\nX-Raw: \xc3\x28\xa0\xa1\r\n\r\n");
        CHECK((r.status == 400 || r.status == 404));
    }
    {
        client c(ap);
        auto r = c.request("\x80\x81\x82 / HTTP/1.1\r\n\r\n");
        CHECK(r.status == 400);
    }
    {
        client c(ap);
        auto r = c.request("GET /healthz HTTP/9.9\r\nHost: admin\r\n\r\n");
        CHECK((r.status == 400 || r.status == 200));
    }
    CHECK(admin_call(ap, "GET", "/healthz").status == 200);  // still serving
    CHECK(get(e.port()).status == 200);
}

TEST_CASE("admin: POST /reload names the changed keys that need a restart, and applies the rest", "[admin][reload]") {
    origin a(origin::behaviour::healthy);
    refusing_origin ro;
    auto const admin_toml = "listen = \"127.0.0.1:0\"";
    edge e(simple_config({ro.address()}, "", "", "", admin_toml));
    auto ap = e.admin_port();
    CHECK(get(e.port()).status == 521);

    auto rewrite = [&](std::string const& text) { std::ofstream(e.config_path(), std::ios::trunc) << text; };
    auto replace = [](std::string s, std::string const& from, std::string const& to) {
        auto at = s.find(from);
        REQUIRE(at != std::string::npos);
        return s.replace(at, from.size(), to);
    };

    // Only live keys changed (servers, a timeout, max_connections, log_level within "info and
    // below"): applied, nothing to restart.
    rewrite(simple_config({a.address()}, "read = \"7s\"", "", "max_connections = 50\nlog_level = \"debug\"", admin_toml));
    auto r = admin_call(ap, "POST", "/reload");
    CHECK(r.status == 200);
    CHECK(r.body == "{\"reloaded\":true,\"restart_required\":[]}\n");
    CHECK(get(e.port()).status == 200);

    // Listeners and threads: the rest applies, these are named.
    auto changed = simple_config({ro.address()}, "", "", "threads = 2", "listen = \"127.0.0.1:1\"");
    changed = replace(changed, "listen = [\"127.0.0.1:0\"]", "listen = [\"127.0.0.2:0\"]");
    rewrite(changed);
    r = admin_call(ap, "POST", "/reload");
    CHECK(r.status == 200);
    CHECK(r.body == "{\"reloaded\":true,\"restart_required\":[\"edge.listen\",\"edge.threads\",\"admin.listen\"]}\n");
    CHECK(get(e.port()).status == 521);  // the servers change did apply
    CHECK(e.log_contains("NOT applied until a restart: edge.listen, edge.threads, admin.listen"));
    // Still pending on the next reload: the process has not restarted.
    r = admin_call(ap, "POST", "/reload");
    CHECK(r.body.find("\"restart_required\":[\"edge.listen\",\"edge.threads\",\"admin.listen\"]") != std::string::npos);

    // log_format, and a log_level that would turn the access log off.
    rewrite(simple_config({a.address()}, "", "", "log_format = \"json\"\nlog_level = \"warn\"", admin_toml));
    r = admin_call(ap, "POST", "/reload");
    CHECK(r.status == 200);
    CHECK(r.body.find("\"edge.log_format\"") != std::string::npos);
    CHECK(r.body.find("\"edge.log_level\"") != std::string::npos);
    CHECK(r.body.find("edge.listen") == std::string::npos);

    // Back to what the process started with: nothing pending.
    rewrite(simple_config({a.address()}, "", "", "", admin_toml));
    r = admin_call(ap, "POST", "/reload");
    CHECK(r.body == "{\"reloaded\":true,\"restart_required\":[]}\n");
    CHECK(get(e.port()).status == 200);
}

TEST_CASE("admin: at most 64 connections at once, and the edge keeps serving", "[admin]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\""));
    auto ap = e.admin_port();
    {
        std::vector<std::unique_ptr<client>> idle;
        for (int i = 0; i < 64; ++i) idle.push_back(std::make_unique<client>(ap));
        std::this_thread::sleep_for(200ms);  // all accepted
        client over(ap);
        CHECK(over.closed_within(2000ms));
        CHECK(get(e.port()).status == 200);
    }  // the 64 close: their slots free up
    bool back = false;
    for (int i = 0; i < 100 && !back; ++i) {
        try {
            back = admin_call(ap, "GET", "/healthz").status == 200;
        } catch (std::exception const&) {  // closed at accept while the slots were still taken
        }
        if (!back) std::this_thread::sleep_for(20ms);
    }
    CHECK(back);
}
