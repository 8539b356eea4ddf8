// bytes -> one whole client connection through the real edge522 session code, in-process:
// a `worker` (its io_context, origin pool, runtime from an inline TOML config) and a
// `client_session` on a loopback TCP pair, with an origin this harness plays on a loopback listener.
// Unlike fuzz_request_head / fuzz_origin_response, which replay the session's decisions on Beast
// parsers, this runs the session itself: the head reader, the header transforms toward the origin
// and back (forward_headers: write_origin_request, write_client_response), bodies, pipelining,
// 1xx, 101 tunnels, the edge's own error pages and every timeout.
//
// Input: CLIENT BYTES <<<ORIGIN>>> ORIGIN BYTES (no separator: all client bytes, and an origin that
// answers nothing). The client writes its bytes, then half-closes, and reads until the edge closes.
// The origin accepts each connection the edge makes, reads until it has a whole request head (or
// EOF), writes the origin bytes, half-closes, and reads until the edge closes.
//
// Fails (abort, saved by libFuzzer) on: ASan/UBSan reports; an exception escaping a handler of the
// worker's io_context or ending a session (logged by client_session::start's handler); a session
// still alive `session_bound` after it started (the config's timeouts are 200 ms); and heads that
// break the proxy's contract (checked as text, never through Beast, whose fields cannot hold more
// than 64 KiB): what the origin receives is one well-formed HTTP/1.1 request head with one
// CF-Connecting-IP / CF-Ray / X-Forwarded-For, one Host, Connection keep-alive or upgrade, no other
// hop-by-hop field and one framing; what the client receives starts with a well-formed response
// head with one Server and one CF-Ray, no hop-by-hop field, no X-Accel-*, and one framing.
// FUZZ_EXCHANGE_VERBOSE=1 prints what each side received (the first 4 KiB), to read a finding;
// FUZZ_EXCHANGE_SKIP=no-host skips the one check that has an open finding (see README.md).

#include "config/config.hpp"
#include "proxy/client_session.hpp"
#include "proxy/worker.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

using namespace edge522;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view separator = "<<<ORIGIN>>>";
constexpr auto session_bound = std::chrono::seconds(5);  // 25x the longest configured timeout
constexpr std::size_t keep_at_most = 4 * 1024 * 1024;      // of what each side receives

// What the edge must not do: log an error (client_session::start() logs an exception that ended a
// session; nothing else logs at error level on this path). Everything below error is dropped.
class abort_on_error_sink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
    void sink_it_(spdlog::details::log_msg const& msg) override {
        if (msg.level < spdlog::level::err) return;
        std::fprintf(stderr, "fuzz_exchange: the edge logged at level %d: %.*s\n", static_cast<int>(msg.level),
                     static_cast<int>(msg.payload.size()), msg.payload.data());
        std::abort();
    }
    void flush_() override {}
};

// --- checks on heads, as text ---------------------------------------------------------------------

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y) return false;
    }
    return true;
}

bool is_tchar(unsigned char c) {
    if (c >= '0' && c <= '9') return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
}

struct head {
    std::string_view start_line;
    std::vector<std::pair<std::string_view, std::string_view>> fields;  // value trimmed
    std::size_t size = 0;  // bytes up to and including the blank line

    std::size_t count(std::string_view name) const {
        std::size_t n = 0;
        for (auto const& f : fields) n += iequals(f.first, name);
        return n;
    }
    std::string_view get(std::string_view name) const {
        for (auto const& f : fields)
            if (iequals(f.first, name)) return f.second;
        return {};
    }
};

[[noreturn]] void fail_head(char const* who, char const* what, std::string_view bytes) {
    std::fprintf(stderr, "fuzz_exchange: %s: %s\n--- first bytes:\n%.*s\n---\n", who, what,
                 static_cast<int>(std::min<std::size_t>(bytes.size(), 2048)), bytes.data());
    std::abort();
}

// The head at the start of `bytes`, which the edge wrote (so it must be well-formed: CRLF line ends,
// no bare CR or LF, no NUL, "name: value" with a token name, no obs-fold).
head parse_head(std::string_view bytes, char const* who) {
    head h;
    auto const end = bytes.find("\r\n\r\n");
    if (end == std::string_view::npos) fail_head(who, "head without its blank line", bytes);
    h.size = end + 4;
    std::string_view rest = bytes.substr(0, end + 2);
    bool first = true;
    while (!rest.empty()) {
        auto const eol = rest.find("\r\n");
        std::string_view line = rest.substr(0, eol);
        rest.remove_prefix(eol + 2);
        for (char c : line)
            if (c == '\r' || c == '\n' || c == '\0') fail_head(who, "CR, LF or NUL inside a head line", bytes);
        if (first) {
            h.start_line = line;
            first = false;
            continue;
        }
        if (line.empty() || line.front() == ' ' || line.front() == '\t') fail_head(who, "empty or folded field line", bytes);
        auto const colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
            fail_head(who, "field line without a token name and a colon", bytes);
        h.fields.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
    }
    return h;
}

// Checks named in FUZZ_EXCHANGE_SKIP (comma-separated) are not made: known, reported findings.
bool skip(std::string_view check) {
    static std::string const list = [] {
        char const* v = std::getenv("FUZZ_EXCHANGE_SKIP");
        return "," + std::string(v ? v : "") + ",";
    }();
    return list.find("," + std::string(check) + ",") != std::string::npos;
}

bool all_digits(std::string_view v) {
    if (v.empty()) return false;
    for (char c : v)
        if (c < '0' || c > '9') return false;
    return true;
}

void check_common(head const& h, char const* who, std::string_view bytes) {
    // RFC 9110 7.6.1 (Trailer is not hop-by-hop there: the edge relays it with the trailers).
    for (std::string_view name : {"Keep-Alive", "TE", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate"})
        if (h.count(name)) fail_head(who, "a hop-by-hop field was forwarded", bytes);
    if (h.count("Content-Length") > 1) fail_head(who, "more than one Content-Length", bytes);
    if (h.count("Content-Length") && !all_digits(h.get("Content-Length")))
        fail_head(who, "Content-Length is not one plain number", bytes);
    if (h.count("Content-Length") && h.count("Transfer-Encoding"))
        fail_head(who, "both Content-Length and Transfer-Encoding", bytes);
    // One Transfer-Encoding: a list of tokens (RFC 9112 6.1; parameters aside) whose last is chunked
    // ("gzip, chunked" is relayed as it came). A coding that is not a token makes parsers disagree
    // on whether the body is chunked: the next hop would frame it differently (smuggling).
    if (h.count("Transfer-Encoding") > 1) fail_head(who, "more than one Transfer-Encoding", bytes);
    if (h.count("Transfer-Encoding")) {
        std::string_view te = h.get("Transfer-Encoding");
        std::string_view last;
        while (!te.empty()) {
            auto const comma = te.find(',');
            auto coding = trim(te.substr(0, comma));
            coding = trim(coding.substr(0, coding.find(';')));
            if (!coding.empty()) {
                if (!is_token(coding)) fail_head(who, "a transfer-coding that is not a token", bytes);
                last = coding;
            }
            te = comma == std::string_view::npos ? std::string_view{} : te.substr(comma + 1);
        }
        if (!iequals(last, "chunked")) fail_head(who, "Transfer-Encoding whose last coding is not chunked", bytes);
    }
    if (h.count("Connection") > 1) fail_head(who, "more than one Connection", bytes);
}

// One request head the edge sent to the origin (the first on a connection).
void check_forwarded(std::string_view bytes) {
    char const* const who = "head sent to the origin";
    auto const h = parse_head(bytes, who);
    auto const sp1 = h.start_line.find(' ');
    auto const sp2 = h.start_line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1) fail_head(who, "request line not METHOD SP TARGET SP VERSION", bytes);
    if (!is_token(h.start_line.substr(0, sp1))) fail_head(who, "method is not a token", bytes);
    auto const target = h.start_line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (target.empty()) fail_head(who, "empty request target", bytes);
    for (unsigned char c : target)
        if (c <= 0x20 || c == 0x7f) fail_head(who, "space or control byte in the request target", bytes);
    if (h.start_line.substr(sp2 + 1) != "HTTP/1.1") fail_head(who, "not HTTP/1.1", bytes);
    check_common(h, who, bytes);
    if (h.count("Expect")) fail_head(who, "Expect forwarded (the edge answers 100-continue itself)", bytes);
    if (h.count("Host") > 1) fail_head(who, "more than one Host", bytes);
    // RFC 9112 3.2: every HTTP/1.1 request carries Host, and the edge speaks HTTP/1.1 to origins
    // (also for an HTTP/1.0 client that sent none). FUZZ_EXCHANGE_SKIP=no-host fuzzes past this
    // finding while it is open (README.md).
    if (h.count("Host") == 0 && !skip("no-host")) fail_head(who, "no Host", bytes);
    if (h.count("CF-Connecting-IP") != 1 || h.get("CF-Connecting-IP") != "127.0.0.1")
        fail_head(who, "not one CF-Connecting-IP: 127.0.0.1", bytes);
    if (h.count("CF-Ray") != 1) fail_head(who, "not one CF-Ray", bytes);
    if (h.count("X-Forwarded-For") != 1 || !h.get("X-Forwarded-For").ends_with("127.0.0.1"))
        fail_head(who, "not one X-Forwarded-For ending in the client's address", bytes);
    auto const conn = h.get("Connection");
    if (!iequals(conn, "keep-alive") && !iequals(conn, "upgrade"))
        fail_head(who, "Connection other than keep-alive or upgrade", bytes);
    if (h.count("Upgrade") && !iequals(conn, "upgrade")) fail_head(who, "Upgrade without Connection: upgrade", bytes);
}

// The first final response head the client received (after any 100 Continue the edge wrote).
void check_answer(std::string_view bytes) {
    char const* const who = "head sent to the client";
    if (bytes.empty()) return;  // e.g. the client closed before a whole head: nothing is owed
    std::string_view rest = bytes;
    for (;;) {
        if (!(rest.starts_with("HTTP/1.1 ") || rest.starts_with("HTTP/1.0 ")) || rest.size() < 12 ||
            !all_digits(rest.substr(9, 3)))
            fail_head(who, "does not start with HTTP/1.x NNN", bytes);
        auto const h = parse_head(rest, who);
        unsigned const status = static_cast<unsigned>(std::stoi(std::string(rest.substr(9, 3))));
        if (status >= 100 && status < 200 && status != 101) {  // interim: the final head follows
            rest.remove_prefix(h.size);
            if (rest.empty()) return;
            continue;
        }
        if (status < 100 || status > 599) fail_head(who, "a status outside 100-599 reached the client", bytes);
        check_common(h, who, bytes);
        if (h.count("Server") != 1 || h.get("Server") != "cloudflare") fail_head(who, "not one Server: cloudflare", bytes);
        if (h.count("CF-Ray") != 1) fail_head(who, "not one CF-Ray", bytes);
        for (std::string_view x : {"X-Accel-Buffering", "X-Accel-Charset", "X-Accel-Limit-Rate", "X-Accel-Redirect"})
            if (h.count(x)) fail_head(who, "an X-Accel-* field reached the client", bytes);
        return;
    }
}

// --- the harness ------------------------------------------------------------------------------------

// One exchange's sockets and what each side received. Handlers hold it by shared_ptr; `pending`
// counts the harness's own operations still in flight.
struct run_state {
    std::string client_out;
    std::string origin_out;
    std::string client_got;
    std::vector<std::shared_ptr<std::string>> origin_got;  // one per origin connection
    int pending = 0;
    bool active = true;
};

struct origin_conn : std::enable_shared_from_this<origin_conn> {
    origin_conn(tcp::socket s, std::shared_ptr<run_state> r)
        : sock(std::move(s)), run(std::move(r)), got(std::make_shared<std::string>()) {
        run->origin_got.push_back(got);
    }
    tcp::socket sock;
    std::shared_ptr<run_state> run;
    std::shared_ptr<std::string> got;
    bool answered = false;
    char buf[16384];

    void start() { read(); }
    void read() {
        ++run->pending;
        sock.async_read_some(net::buffer(buf), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
            --self->run->pending;
            if (self->got->size() < keep_at_most) self->got->append(self->buf, n);
            if (!self->answered && (ec || self->got->find("\r\n\r\n") != std::string::npos)) self->answer();
            if (ec) {
                boost::system::error_code ignored;
                self->sock.close(ignored);
                return;
            }
            self->read();
        });
    }
    void answer() {
        answered = true;
        ++run->pending;
        net::async_write(sock, net::buffer(run->origin_out), [self = shared_from_this()](boost::system::error_code, std::size_t) {
            --self->run->pending;
            boost::system::error_code ignored;
            self->sock.shutdown(tcp::socket::shutdown_send, ignored);
        });
    }
};

struct harness {
    std::atomic<std::uint64_t> open_connections{0};
    std::unique_ptr<worker> w;
    std::unique_ptr<tcp::acceptor> client_listener;
    std::unique_ptr<tcp::acceptor> origin_listener;
    std::shared_ptr<run_state> current;  // the run the origin listener serves; null between runs
    std::vector<std::weak_ptr<origin_conn>> conns;
    bool const verbose = std::getenv("FUZZ_EXCHANGE_VERBOSE") != nullptr;  // print what each side got

    harness() {
        auto sink = std::make_shared<abort_on_error_sink>();
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("fuzz", sink));
        spdlog::set_level(spdlog::level::warn);
        // No access log: init_access_log() is never called, so log_access() writes nothing.

        // The origin listener's port goes into the config, and the config into the worker whose
        // io_context the listener must run on: bind on a scratch context, move the fd over.
        net::io_context scratch;
        tcp::acceptor probe(scratch, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        auto const origin_port = probe.local_endpoint().port();
        auto const fd = probe.release();

        // 200 ms everywhere, so that nothing waits long; both header limits above 64 KiB (the size
        // past which Beast's fields cannot store one field) and below the fuzzer's max_len.
        std::string toml = R"([edge]
listen = ["127.0.0.1:0"]
max_request_header = "128KiB"
max_response_header = "192KiB"
[timeouts]
connect = "200ms"
read = "200ms"
write = "200ms"
origin_idle = "1s"
client_header = "200ms"
client_idle = "200ms"
dns = "200ms"
[admin]
listen = ""
[[origins]]
name = "refused"
hosts = ["refused.test"]
servers = ["127.0.0.1:1"]
failover = false
[[origins]]
name = "fuzz"
hosts = ["*"]
servers = ["127.0.0.1:)" + std::to_string(origin_port) + "\"]\n";
        auto r = config::load_string(toml, "fuzz_exchange.toml");
        if (!r.cfg) {
            for (auto const& e : r.errors) std::fprintf(stderr, "fuzz_exchange config: %s\n", e.to_string().c_str());
            std::abort();
        }
        w = std::make_unique<worker>(0, std::make_shared<runtime const>(r.cfg), open_connections);
        auto& ioc = w->context();
        origin_listener = std::make_unique<tcp::acceptor>(ioc);
        origin_listener->assign(tcp::v4(), fd);
        client_listener = std::make_unique<tcp::acceptor>(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        accept_origin();
    }

    void accept_origin() {
        origin_listener->async_accept([this](boost::system::error_code ec, tcp::socket s) {
            if (!ec) {
                if (current && current->active) {
                    auto c = std::make_shared<origin_conn>(std::move(s), current);
                    conns.push_back(c);
                    c->start();
                }  // else: a connect outside any run (none expected); the socket closes here
            }
            accept_origin();
        });
    }

    // Runs handlers until `done()` or the deadline; false on the deadline. An exception from a
    // handler (e.g. std::length_error out of Beast's fields) is a finding.
    template <class Done>
    bool run_until(Done done, std::chrono::steady_clock::time_point deadline) {
        auto& ioc = w->context();
        while (!done()) {
            auto const now = std::chrono::steady_clock::now();
            if (now >= deadline) return false;
            try {
                if (ioc.stopped()) ioc.restart();
                ioc.run_one_for(std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(50)));
            } catch (std::exception const& e) {
                std::fprintf(stderr, "fuzz_exchange: exception escaped a handler of the worker's io_context: %s\n", e.what());
                std::abort();
            } catch (...) {
                std::fprintf(stderr, "fuzz_exchange: unknown exception escaped a handler of the worker's io_context\n");
                std::abort();
            }
        }
        return true;
    }

    void one(std::string_view client_bytes, std::string_view origin_bytes) {
        auto& ioc = w->context();
        auto run = std::make_shared<run_state>();
        run->client_out.assign(client_bytes);
        run->origin_out.assign(origin_bytes);
        current = run;
        conns.clear();

        // A connected loopback pair: connect() completes from the listen backlog, then accept().
        tcp::socket client(ioc);
        tcp_socket edge_side(ioc);
        client.connect(client_listener->local_endpoint());
        tcp::endpoint peer;
        client_listener->accept(edge_side, peer);
        auto session = std::make_shared<client_session>(*w, std::move(edge_side), peer);
        std::weak_ptr<client_session> alive = session;
        session->start();
        session.reset();

        // The client: write everything, half-close, read until the edge closes.
        ++run->pending;
        net::async_write(client, net::buffer(run->client_out), [&client, run](boost::system::error_code, std::size_t) {
            --run->pending;
            boost::system::error_code ignored;
            client.shutdown(tcp::socket::shutdown_send, ignored);
        });
        auto cbuf = std::make_shared<std::array<char, 16384>>();
        std::function<void()> read_client = [&] {
            ++run->pending;
            client.async_read_some(net::buffer(*cbuf), [&, run, cbuf](boost::system::error_code ec, std::size_t n) {
                --run->pending;
                if (run->client_got.size() < keep_at_most) run->client_got.append(cbuf->data(), n);
                if (!ec) read_client();
            });
        };
        read_client();

        auto const started = std::chrono::steady_clock::now();
        auto const deadline = started + session_bound;
        if (!run_until([&] { return alive.expired(); }, deadline)) {
            std::fprintf(stderr, "fuzz_exchange: the session did not end within %lld ms (client sent %zu bytes, "
                                 "origin %zu bytes; edge answered %zu bytes; %zu origin connection(s))\n",
                         static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(session_bound).count()),
                         client_bytes.size(), origin_bytes.size(), run->client_got.size(), run->origin_got.size());
            std::abort();
        }
        // The session is gone. Pooled origin connections are not: close them (each run starts with
        // an empty pool, so that inputs do not depend on each other), then let the harness's own
        // reads see their EOFs. The client socket must see the edge's close.
        w->pool().clear();
        if (!run_until([&] { return run->pending == 0; }, std::chrono::steady_clock::now() + std::chrono::seconds(2))) {
            // Our reads still pending 2 s after the session ended: a socket the edge did not close.
            std::fprintf(stderr, "fuzz_exchange: a connection stayed open after the session ended\n");
            std::abort();
        }
        run->active = false;
        current.reset();
        boost::system::error_code ignored;
        client.close(ignored);
        for (auto& wc : conns)
            if (auto c = wc.lock()) c->sock.close(ignored);
        conns.clear();

        if (verbose) {
            std::fprintf(stderr, "=== the edge answered %zu bytes:\n%.*s\n", run->client_got.size(),
                         static_cast<int>(std::min<std::size_t>(run->client_got.size(), 4096)), run->client_got.data());
            for (auto const& got : run->origin_got)
                std::fprintf(stderr, "=== an origin connection received %zu bytes:\n%.*s\n", got->size(),
                             static_cast<int>(std::min<std::size_t>(got->size(), 4096)), got->data());
        }
        check_answer(run->client_got);
        for (auto const& got : run->origin_got)
            if (!got->empty()) check_forwarded(*got);
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    static harness* h = new harness;  // one worker, io_context and pair of listeners for every input
    std::string_view in(reinterpret_cast<char const*>(data), size);
    auto const sep = in.find(separator);
    std::string_view client = in.substr(0, sep);
    std::string_view origin = sep == std::string_view::npos ? std::string_view{} : in.substr(sep + separator.size());
    h->one(client, origin);
    return 0;
}
