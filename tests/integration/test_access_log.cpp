// The access log of the real binary: to a file (rotation on SIGUSR1), off, JSON that stays valid
// whatever the client sends, and a stdout nobody reads that must not slow the edge down.
#include "harness.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

extern char** environ;

using namespace edge522::test;
using namespace std::chrono_literals;

namespace {

std::string slurp(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Waits (the writer flushes at least every second) until `path` contains `text`.
bool file_contains(std::string const& path, std::string const& text, std::chrono::milliseconds limit = 3000ms) {
    auto until = clock_type::now() + limit;
    do {
        if (slurp(path).find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(20ms);
    } while (clock_type::now() < until);
    return false;
}

std::string temp_dir() {
    auto p = write_temp("placeholder", "");
    return p.substr(0, p.rfind('/'));
}

} // namespace

TEST_CASE("access log: a file path gets the lines; after a rename SIGUSR1 starts a new file", "[access_log]") {
    origin o(origin::behaviour::healthy);
    auto dir = temp_dir();
    auto path = dir + "/access.log";
    edge e(simple_config({o.address()}, "", "", "access_log = \"" + path + "\""));
    CHECK(get(e.port(), "/one").status == 200);
    REQUIRE(file_contains(path, "\"GET /one\" 200 origin=app"));

    std::filesystem::rename(path, dir + "/access.log.1");
    e.signal(SIGUSR1);
    auto until = clock_type::now() + 3s;
    while (!std::filesystem::exists(path) && clock_type::now() < until) std::this_thread::sleep_for(20ms);
    REQUIRE(std::filesystem::exists(path));
    CHECK(get(e.port(), "/two").status == 200);
    CHECK(file_contains(path, "\"GET /two\" 200 origin=app"));

    // The last line is written at exit, not lost with the buffer.
    CHECK(get(e.port(), "/three").status == 200);
    e.signal(SIGTERM);
    CHECK(e.wait_exit() == 0);
    auto old_text = slurp(dir + "/access.log.1");
    auto new_text = slurp(path);
    CHECK(old_text.find("/two") == std::string::npos);
    CHECK(new_text.find("/one") == std::string::npos);
    CHECK(new_text.find("\"GET /three\" 200 origin=app") != std::string::npos);
    CHECK(e.log().find("\"GET /") == std::string::npos);  // nothing on stdout
    CHECK(e.log().find("access log: reopened " + path) != std::string::npos);
}

TEST_CASE("access log: a file that cannot be opened is a startup error (exit 2) with one message", "[access_log]") {
    auto cfg = write_temp("edge.toml", simple_config({"127.0.0.1:3000"}, "", "",
                                                     "access_log = \"/nonexistent-edge522/access.log\""));
    auto r = run_edge({"--config", cfg});
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("edge522: cannot open access log /nonexistent-edge522/access.log for append: "
                        "No such file or directory\n") != std::string::npos);
}

TEST_CASE("access log: off writes no access line", "[access_log]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", "access_log = \"off\""));
    for (int i = 0; i < 5; ++i) CHECK(get(e.port(), "/quiet").status == 200);
    CHECK(get(e.port(), "/cdn-cgi/error/522").status == 522);
    e.signal(SIGTERM);
    CHECK(e.wait_exit() == 0);
    CHECK(e.log().find("/quiet") == std::string::npos);
    CHECK(e.log().find("ray=") == std::string::npos);
}

TEST_CASE("access log: a target with bytes >= 0x80 and quotes is one valid JSON line", "[access_log]") {
    origin o(origin::behaviour::healthy);
    auto dir = temp_dir();
    auto path = dir + "/access.log";
    edge e(simple_config({o.address()}, "", "", "access_log = \"" + path + "\"\nlog_format = \"json\""));
    std::string const target = "/q\xff\xfe\"x\"\\y\xc3\xa9z\x80";
    client c(e.port());
    auto r = c.request("GET " + target + " HTTP/1.1\r\nHost: app.test\r\n\r\n");
    CHECK(r.status != 0);
    CHECK(get(e.port(), "/after", "h\xe9.test").status != 0);
    e.signal(SIGTERM);
    REQUIRE(e.wait_exit() == 0);

    auto text = slurp(path);
    std::istringstream lines(text);
    std::string line;
    int n = 0;
    bool found = false;
    while (std::getline(lines, line)) {
        ++n;
        INFO(line);
        boost::system::error_code ec;
        auto v = boost::json::parse(line, ec);
        REQUIRE(!ec);
        REQUIRE(v.is_object());
        auto const& path_value = v.as_object().at("path").as_string();
        // Invalid UTF-8 bytes read back as U+00XX; the valid "é" as itself.
        if (path_value == "/q\xc3\xbf\xc3\xbe\"x\"\\y\xc3\xa9z\xc2\x80") {
            found = true;
            CHECK(v.as_object().at("status").as_int64() == r.status);
            CHECK(v.as_object().at("http_version").as_string() == "1.1");
        }
    }
    CHECK(n == 2);
    CHECK(found);
}

TEST_CASE("access log: a stdout nobody reads never slows the edge; lines are dropped and counted", "[access_log]") {
    origin o(origin::behaviour::healthy);
    auto cfg = write_temp("edge.toml", simple_config({o.address()}, "", "", "", "listen = \"127.0.0.1:0\""));
    auto err_path = cfg.substr(0, cfg.rfind('/')) + "/stderr.log";
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::string bin = EDGE522_BIN, flag = "--config";
    char* argv[] = {bin.data(), flag.data(), cfg.data(), nullptr};
    pid_t pid = -1;
    REQUIRE(::posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv, environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);

    // Read stdout only up to the edge's and the admin's "listening on" lines; then nobody reads it
    // again.
    std::string out;
    auto until = clock_type::now() + 10s;
    auto has_line = [&out](std::string const& start) {
        auto const at = out.find(start);
        return at != std::string::npos && out.find('\n', at) != std::string::npos;
    };
    while (!(has_line("edge522 listening on http://") && has_line("admin listening on http://")) &&
           clock_type::now() < until) {
        pollfd p{fds[0], POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[512];
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    auto port_of = [&out](std::string const& start) -> std::uint16_t {
        auto const at = out.find(start);
        if (at == std::string::npos) return 0;
        auto const eol = out.find('\n', at);
        if (eol == std::string::npos) return 0;
        return static_cast<std::uint16_t>(std::stoi(out.substr(out.rfind(':', eol) + 1, eol)));
    };
    auto const port = port_of("edge522 listening on http://");
    auto const admin = port_of("admin listening on http://");
    REQUIRE(port != 0);
    REQUIRE(admin != 0);

    // 8 KiB lines: the 64 KiB pipe fills after a few, the worker's 1 MiB buffer after ~130.
    std::string target(8001, 'x');
    target[0] = '/';
    constexpr int requests = 400;
    double worst = 0;
    auto const start = clock_type::now();
    {
        client c(port, 5000ms);
        for (int i = 0; i < requests; ++i) {
            auto r = c.request("GET " + target + " HTTP/1.1\r\nHost: app.test\r\n\r\n");
            REQUIRE(r.status == 200);
            worst = std::max(worst, r.seconds);
        }
    }
    double const total = std::chrono::duration<double>(clock_type::now() - start).count();
    CHECK(worst < 1.0);
    CHECK(total < 30.0);

    // The drops show on /metrics as they happen.
    auto const metrics = get(admin, "/metrics");
    std::smatch dm;
    REQUIRE(std::regex_search(metrics.body, dm, std::regex("\nedge522_access_log_dropped_total (\\d+)\n")));
    auto const dropped_live = std::stoul(dm[1].str());
    CHECK(dropped_live > 100);

    // SIGTERM: the writer is stuck on the full pipe; the edge gives up on it after 2 s without
    // progress and exits, reporting what it dropped.
    ::kill(pid, SIGTERM);
    int status = -1;
    bool exited = false;
    auto deadline = clock_type::now() + 15s;
    while (clock_type::now() < deadline) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    if (!exited) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }
    ::close(fds[0]);
    REQUIRE(exited);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    auto err = slurp(err_path);
    INFO(err);
    std::smatch m;
    REQUIRE(std::regex_search(err, m, std::regex(R"(access log: (\d+) line\(s\) dropped since start)")));
    auto dropped = std::stoul(m[1].str());
    CHECK(dropped > 100);
    CHECK(dropped >= dropped_live);
    CHECK(dropped <= static_cast<unsigned long>(requests));
}
