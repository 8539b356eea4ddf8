#include "proxy/access_log.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

using namespace edge522;
using namespace std::chrono_literals;

namespace {

// 2024-05-01T12:00:00.123Z
auto const fixed_time = std::chrono::system_clock::time_point{} + 1714564800s + 123ms;

std::string text_line(access_entry const& e) {
    std::string out;
    format_access_line(e, access_log_format::text, fixed_time, out);
    return out;
}

std::string json_line(access_entry const& e) {
    std::string out;
    format_access_line(e, access_log_format::json, fixed_time, out);
    return out;
}

boost::json::object parsed(std::string const& line) {
    REQUIRE(!line.empty());
    REQUIRE(line.back() == '\n');
    REQUIRE(std::count(line.begin(), line.end(), '\n') == 1);
    boost::system::error_code ec;
    auto v = boost::json::parse(std::string_view(line).substr(0, line.size() - 1), ec);
    INFO(line);
    REQUIRE(!ec);
    REQUIRE(v.is_object());
    return v.as_object();
}

std::string str(boost::json::object const& o, char const* key) {
    auto const* v = o.if_contains(key);
    REQUIRE(v);
    REQUIRE(v->is_string());
    return std::string(v->as_string());
}

// What a JSON reader must get back for `in`: valid UTF-8 unchanged, every other byte as the
// character U+00XX (in UTF-8). An independent reference for the formatter's rule.
std::string expected_json_text(std::string_view in) {
    std::string out;
    std::size_t i = 0;
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
    while (i < in.size()) {
        unsigned char c = b(i);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) { n = 1; cp = c; }
        else if ((c & 0xe0) == 0xc0) { n = 2; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { n = 3; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { n = 4; cp = c & 0x07; }
        bool ok = n != 0 && i + n <= in.size();
        for (std::size_t k = 1; ok && k < n; ++k) {
            ok = (b(i + k) & 0xc0) == 0x80;
            cp = (cp << 6) | (b(i + k) & 0x3f);
        }
        if (ok) {
            static constexpr std::uint32_t min_of[] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= min_of[n] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        }
        if (ok) {
            out.append(in.substr(i, n));
            i += n;
        } else {
            out.push_back(static_cast<char>(0xc0 | (c >> 6)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
            ++i;
        }
    }
    return out;
}

// The text format's rule, byte by byte: visible ASCII but '"' and '\' as is, the rest \xHH.
std::string expected_text(std::string_view in, bool keep_space = false) {
    std::string out;
    char buf[8];
    for (char ch : in) {
        auto c = static_cast<unsigned char>(ch);
        if ((c > 0x20 && c < 0x7f && c != '"' && c != '\\') || (keep_space && c == ' ')) {
            out.push_back(ch);
        } else {
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        }
    }
    return out;
}

std::string all_bytes() {
    std::string s;
    for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
    return s;
}

// Every string field set to `v`.
access_entry hostile_entry(std::string const& v) {
    access_entry e{v, v, v, v, 502, v, v, 3, 4, 5, v, v, v, v};
    e.bytes_sent = 1234;
    e.cut = v;
    e.fault = v;
    e.fault_id = v;
    return e;
}

std::filesystem::path temp_dir() {
    auto dir = std::filesystem::temp_directory_path() /
               ("edge522-access-log-" + std::to_string(::getpid()) + "-" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(dir);
    return dir;
}

std::string slurp(std::filesystem::path const& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

config::access_log_destination file_destination(std::string path) {
    return {config::access_log_destination::kind::file, std::move(path)};
}

access_entry simple_entry(std::string_view target = "/x") {
    access_entry e{"127.0.0.1", "app.test", "GET", target, 200, "app", "127.0.0.1:3000", 0, 1, 2, "ray-LOC"};
    return e;
}

} // namespace

TEST_CASE("text line: the fields of a successful exchange, in order", "[access_log]") {
    access_entry e{"127.0.0.1", "app.test", "GET", "/hello?x=1", 200, "app", "127.0.0.1:3000", 0, 3, 4,
                   "8f3c-LOC"};
    e.bytes_sent = 512;
    CHECK(text_line(e) ==
          "2024-05-01T12:00:00.123Z 127.0.0.1 app.test \"GET /hello?x=1\" 200 origin=app server=127.0.0.1:3000 "
          "connect_ms=0 first_byte_ms=3 total_ms=4 ray=8f3c-LOC bytes=512 http=1.1\n");
    e.http_version = 10;
    e.cut = "write_timeout";
    e.fault = "reset";
    e.fault_id = "f1";
    e.failure = "origin_timeout";
    e.phase = "response";
    e.detail = "no \"answer\" in 5 s";
    CHECK(text_line(e) ==
          "2024-05-01T12:00:00.123Z 127.0.0.1 app.test \"GET /hello?x=1\" 200 origin=app server=127.0.0.1:3000 "
          "connect_ms=0 first_byte_ms=3 total_ms=4 ray=8f3c-LOC bytes=512 http=1.0 cut=write_timeout fault=reset "
          "fault_id=f1 failure=origin_timeout phase=response detail=\"no \\x22answer\\x22 in 5 s\"\n");
    access_entry empty;
    empty.http_version = 0;
    CHECK(text_line(empty) == "2024-05-01T12:00:00.123Z - - \"- -\" 0 origin= server= connect_ms=-1 "
                              "first_byte_ms=-1 total_ms=0 ray= bytes=0 http=-\n");
}

TEST_CASE("text line: hostile bytes in every field stay one line of fields split by spaces", "[access_log]") {
    std::vector<std::string> inputs{all_bytes(), "a b\"c\\d\r\ne\tf", std::string("\0\x7f\x80\xff", 4),
                                    "\xc3\xa9t\xc3\xa9", "\" origin=evil \"", "x\ny"};
    std::mt19937 rng(522);
    for (int i = 0; i < 200; ++i) {
        std::string r(1 + rng() % 64, '\0');
        for (auto& c : r) c = static_cast<char>(rng());
        inputs.push_back(r);
    }
    // Mostly safe, with a rare hostile byte anywhere: the eight-bytes-at-a-time scan must stop on it.
    for (int i = 0; i < 300; ++i) {
        std::string r(1 + rng() % 250, '\0');
        for (auto& c : r) c = static_cast<char>(rng() % 16 == 0 ? rng() : 0x21 + rng() % 94);
        inputs.push_back(r);
    }
    // Every length up to 40 with one hostile byte at each place, or none: the whole-field check
    // (words that overlap at the end) and the short copies must agree with the byte-by-byte rule.
    for (std::size_t len = 1; len <= 40; ++len)
        for (std::size_t at = 0; at <= len; ++at)
            for (char bad : {'"', ' ', '\x80'}) {
                std::string r(len, 'a');
                for (std::size_t k = 0; k < len; ++k) r[k] = static_cast<char>('0' + k % 40);
                if (at < len) r[at] = bad;
                inputs.push_back(r);
            }
    for (auto const& v : inputs) {
        for (bool failed : {false, true}) {
            auto e = hostile_entry(v);
            if (!failed) e.failure = {};
            auto line = text_line(e);
            INFO(line);
            // Appends, not operator+ chains: GCC 12 warns falsely (-Wrestrict) on those.
            auto const esc = expected_text(v);
            std::string request;
            request.append(" \"").append(esc).append(" ").append(esc).append("\" 502 origin=").append(esc);
            CHECK(line.find(request.append(" server=")) != std::string::npos);
            std::string detail;
            detail.append(" detail=\"").append(expected_text(v, true)).append("\"\n");
            if (failed) CHECK(line.ends_with(detail));
            REQUIRE(line.back() == '\n');
            line.pop_back();
            CHECK(std::all_of(line.begin(), line.end(),
                              [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; }));
            // Up to detail (the free-text field, last), splitting on spaces always gives the same fields.
            auto head = line.substr(0, line.find(" detail=\""));
            std::size_t fields = 1 + static_cast<std::size_t>(std::count(head.begin(), head.end(), ' '));
            CHECK(fields == (failed ? 19u : 17u));
            CHECK(std::count(head.begin(), head.end(), '"') == 2);  // only the request's quotes
            if (failed) {
                auto detail = line.substr(head.size() + 9);
                REQUIRE(detail.back() == '"');
                detail.pop_back();
                CHECK(detail.find('"') == std::string::npos);
            }
        }
    }
    auto line = text_line(hostile_entry(all_bytes()));
    CHECK(line.find("\\x00\\x01") != std::string::npos);
    CHECK(line.find("\\x1F\\x20!\\x22#") != std::string::npos);  // space and '"' escaped, '!' '#' kept
    CHECK(line.find("[\\x5C]") != std::string::npos);
    CHECK(line.find("~\\x7F\\x80") != std::string::npos);
    CHECK(line.find("\\xFE\\xFF") != std::string::npos);
}

TEST_CASE("json line: the same content as the text line", "[access_log]") {
    access_entry e{"127.0.0.1", "app.test", "GET", "/hello?x=1", 200, "app", "127.0.0.1:3000", 0, 3, 4,
                   "8f3c-LOC"};
    e.bytes_sent = 512;
    CHECK(json_line(e) ==
          R"({"client":"127.0.0.1","host":"app.test","method":"GET","path":"/hello?x=1","status":200,)"
          R"("origin":"app","server":"127.0.0.1:3000","connect_ms":0,"first_byte_ms":3,"total_ms":4,)"
          R"("ray":"8f3c-LOC","bytes_sent":512,"http_version":"1.1"})"
          "\n");
    auto o = parsed(json_line(e));
    CHECK(!o.contains("cut"));
    CHECK(!o.contains("fault"));
    CHECK(!o.contains("fault_id"));
    CHECK(!o.contains("failure"));
    e.cut = "drain";
    e.fault_id = "f7";
    e.failure = "connect_timeout";
    e.phase = "connect";
    e.detail = "SYN\tunanswered\n";
    o = parsed(json_line(e));
    CHECK(str(o, "cut") == "drain");
    CHECK(!o.contains("fault"));
    CHECK(str(o, "fault_id") == "f7");
    CHECK(str(o, "failure") == "connect_timeout");
    CHECK(str(o, "phase") == "connect");
    CHECK(str(o, "detail") == "SYN\tunanswered\n");
    CHECK(o.at("bytes_sent").as_int64() == 512);
    CHECK(o.at("connect_ms").as_int64() == 0);
    CHECK(o.at("status").as_int64() == 200);
}

TEST_CASE("json line: valid JSON whatever the bytes; valid UTF-8 round-trips, other bytes read back as U+00XX",
          "[access_log]") {
    std::vector<std::string> inputs{
        all_bytes(),
        "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf",  // valid UTF-8
        "\xc0\xaf \xe0\x80\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xf5\x80\x80\x80",                    // overlong, surrogate, > U+10FFFF
        "\xe2\x82 \x80 \xc3",                                                                        // truncated, lone
        "\"quoted\" back\\slash \b\f\n\r\t \x01\x1f\x7f",
        std::string("nul\0byte", 8),
    };
    for (int a = 0; a < 256; ++a)
        for (int b = 0x80; b < 0xc0; b += 0x1f) inputs.push_back({static_cast<char>(a), static_cast<char>(b)});
    std::mt19937 rng(0x522);
    for (int i = 0; i < 500; ++i) {
        std::string r(1 + rng() % 48, '\0');
        for (auto& c : r) c = static_cast<char>(rng());
        inputs.push_back(r);
    }
    for (int i = 0; i < 300; ++i) {
        std::string r(1 + rng() % 250, '\0');
        for (auto& c : r) c = static_cast<char>(rng() % 16 == 0 ? rng() : 0x20 + rng() % 95);
        inputs.push_back(r);
    }
    for (auto const& v : inputs) {
        auto o = parsed(json_line(hostile_entry(v)));
        auto const want = expected_json_text(v);
        for (auto key : {"client", "host", "method", "path", "origin", "server", "ray", "cut", "fault", "fault_id",
                         "failure", "phase", "detail"}) {
            INFO(key);
            CHECK(str(o, key) == want);
        }
    }
    // A valid sequence is written as is, not as \u escapes.
    auto line = json_line(hostile_entry("\xc3\xa9\xf0\x9f\x98\x80"));
    CHECK(line.find("\"client\":\"\xc3\xa9\xf0\x9f\x98\x80\"") != std::string::npos);
    CHECK(json_line(hostile_entry("\xff")).find(R"("client":"\u00ff")") != std::string::npos);
    CHECK(json_line(hostile_entry("\x01")).find(R"("client":"\u0001")") != std::string::npos);
}

TEST_CASE("every field is bounded: a 100 KB target is cut at 8 KiB with a marker", "[access_log]") {
    std::string target = "/";
    while (target.size() < 100000) target += "0123456789";
    target.resize(100000);
    auto e = simple_entry(target);
    auto text = text_line(e);
    CHECK(text.size() < 9000);
    CHECK(text.find(" \"GET " + target.substr(0, 8192) + "...[cut,len=100000]\" 200 ") != std::string::npos);
    auto o = parsed(json_line(e));
    CHECK(str(o, "path") == target.substr(0, 8192) + "...[cut,len=100000]");

    // Hostile and huge in every field: the line stays bounded (escaping at most x6).
    std::string huge(100000, '\xff');
    auto worst = hostile_entry(huge);
    CHECK(json_line(worst).size() < 120 * 1024);
    CHECK(text_line(worst).size() < 120 * 1024);
    parsed(json_line(worst));

    // A cut does not split a valid UTF-8 sequence.
    std::string utf(8191, 'a');
    utf += "\xe6\x97\xa5\xe6\x97\xa5";
    o = parsed(json_line(simple_entry(utf)));
    CHECK(str(o, "path") == std::string(8191, 'a') + "...[cut,len=8197]");
}

TEST_CASE("the log writes every line of every thread to its file; off does nothing", "[access_log]") {
    auto dir = temp_dir();
    auto path = (dir / "access.log").string();
    REQUIRE(init_access_log(file_destination(path), access_log_format::json).empty());
    CHECK(access_log_enabled());
    auto const dropped_before = access_log_dropped();
    constexpr int threads = 4, per_thread = 2000;  // < 1 MiB each: no drop whatever the scheduling
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([t] {
            for (int i = 0; i < per_thread; ++i) {
                auto target = "/t" + std::to_string(t) + "/" + std::to_string(i);
                log_access(simple_entry(target));
            }
        });
    for (auto& t : ts) t.join();  // the threads' buffers outlive them until written
    shutdown_access_log();
    CHECK(!access_log_enabled());
    CHECK(access_log_dropped() == dropped_before);
    auto text = slurp(path);
    CHECK(std::count(text.begin(), text.end(), '\n') == threads * per_thread);
    std::istringstream lines(text);
    std::string line;
    int n = 0;
    while (std::getline(lines, line) && n < 50) {
        parsed(line + "\n");
        ++n;
    }

    REQUIRE(init_access_log({config::access_log_destination::kind::off, ""}, access_log_format::text).empty());
    CHECK(!access_log_enabled());
    log_access(simple_entry());
    shutdown_access_log();
    CHECK(slurp(path) == text);
    std::filesystem::remove_all(dir);
}

TEST_CASE("reopen writes to a new file after the old one was renamed (rotation)", "[access_log]") {
    auto dir = temp_dir();
    auto path = (dir / "access.log").string();
    REQUIRE(init_access_log(file_destination(path), access_log_format::text).empty());
    log_access(simple_entry("/before"));
    // Wait until the writer has written it (at most a second), so it lands in the old file.
    for (int i = 0; i < 300 && slurp(path).empty(); ++i) std::this_thread::sleep_for(10ms);
    std::filesystem::rename(path, dir / "access.log.1");
    reopen_access_log();
    for (int i = 0; i < 300 && !std::filesystem::exists(path); ++i) std::this_thread::sleep_for(10ms);
    log_access(simple_entry("/after"));
    shutdown_access_log();
    auto old_text = slurp(dir / "access.log.1");
    auto new_text = slurp(path);
    CHECK(old_text.find("/before") != std::string::npos);
    CHECK(old_text.find("/after") == std::string::npos);
    CHECK(new_text.find("/after") != std::string::npos);
    CHECK(new_text.find("/before") == std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a file that cannot be opened is one clear error", "[access_log]") {
    CHECK(init_access_log(file_destination("/nonexistent-edge522-dir/access.log"), access_log_format::text) ==
          "cannot open access log /nonexistent-edge522-dir/access.log for append: No such file or directory");
    CHECK(!access_log_enabled());
    auto dir = temp_dir();
    auto fifo = (dir / "fifo").string();
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // A FIFO nobody has open is an error at once, not a hang.
    CHECK(init_access_log(file_destination(fifo), access_log_format::text) ==
          "cannot open access log " + fifo + " for append: No such device or address");
    std::filesystem::remove_all(dir);
}

TEST_CASE("a destination that takes nothing never blocks the logging thread: lines are dropped and counted",
          "[access_log]") {
    auto dir = temp_dir();
    auto fifo = (dir / "fifo").string();
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // open, but not reading (yet)
    REQUIRE(reader >= 0);
    REQUIRE(init_access_log(file_destination(fifo), access_log_format::text).empty());
    auto const dropped_before = access_log_dropped();

    // 8 KiB lines: the pipe (64 KiB) and then this thread's 1 MiB buffer fill within ~140 lines.
    std::string target(8191, 'x');
    target[0] = '/';
    constexpr int total = 2000;
    auto worst = std::chrono::steady_clock::duration::zero();
    auto const start = std::chrono::steady_clock::now();
    for (int i = 0; i < total; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        log_access(simple_entry(target));
        worst = std::max(worst, std::chrono::steady_clock::now() - t0);
    }
    auto const elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed < 2s);
    CHECK(worst < 100ms);
    auto const dropped = access_log_dropped() - dropped_before;
    CHECK(dropped > 1000);

    // Now read everything: every line was either written or counted as dropped.
    ::fcntl(reader, F_SETFL, ::fcntl(reader, F_GETFL) & ~O_NONBLOCK);
    std::size_t lines = 0;
    std::thread drain([&] {
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(reader, buf, sizeof buf);
            if (n > 0) lines += static_cast<std::size_t>(std::count(buf, buf + n, '\n'));
            else if (n == 0 || errno != EINTR) break;
        }
    });
    shutdown_access_log();
    drain.join();
    ::close(reader);
    CHECK(lines + (access_log_dropped() - dropped_before) == total);
    CHECK(access_log_dropped() - dropped_before == dropped);
    std::filesystem::remove_all(dir);
}
