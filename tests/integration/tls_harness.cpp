#include "tls_harness.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace edge522::test {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);
constexpr std::size_t ws_max_message = 16 * 1024 * 1024;  // what the echo origins promise to take

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string slurp(std::string const& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool is_ip_literal(std::string const& name) {
    error_code ec;
    net::ip::make_address(name, ec);
    return !ec;
}

} // namespace

// ---------------------------------------------------------------- certificates

namespace {

// Runs `args` (no shell) with stdout+stderr to `log`; returns the exit code (-signal if killed).
int run_program(std::vector<std::string> const& args, std::string const& log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> argv;
    for (auto const& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot run " + args[0] + ": " + std::strerror(rc));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

std::string command_line(std::vector<std::string> const& args) {
    std::string s;
    for (auto const& a : args) s += (s.empty() ? "" : " ") + a;
    return s;
}

// Runs `openssl args...` in `dir`; throws with the command and its output when it fails.
void openssl(std::string const& dir, std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    auto log = dir + "/openssl.log";
    int rc = run_program(args, log);
    if (rc != 0)
        throw std::runtime_error("test certificates: `" + command_line(args) + "` failed (exit " +
                                 std::to_string(rc) + "):\n" + slurp(log));
}

// The extensions of a server leaf certificate with the given subjectAltName.
std::string leaf_section(std::string const& name, std::string const& san) {
    return "[ " + name + " ]\n"
           "basicConstraints = critical, CA:FALSE\n"
           "keyUsage = critical, digitalSignature\n"
           "extendedKeyUsage = serverAuth\n"
           "subjectKeyIdentifier = hash\n"
           "subjectAltName = " + san + "\n";
}

constexpr char const* good_san = "DNS:localhost, DNS:origin.test, IP:127.0.0.1, IP:::1";

// One configuration for every openssl command: request defaults (no prompt), a minimal `openssl ca`
// (the one command that takes validity dates in the past) and one extension section per certificate.
std::string openssl_config(std::string const& dir) {
    return "[ req ]\n"
           "distinguished_name = dn\n"
           "prompt = no\n"
           "[ dn ]\n"
           "CN = unused\n"
           "[ ca ]\n"
           "default_ca = test_ca\n"
           "[ test_ca ]\n"
           "database = " + dir + "/index.txt\n"
           "serial = " + dir + "/serial\n"
           "new_certs_dir = " + dir + "/issued\n"
           "certificate = " + dir + "/ca.pem\n"
           "private_key = " + dir + "/ca.key\n"
           "default_md = sha256\n"
           "policy = policy_any\n"
           "unique_subject = no\n"
           "copy_extensions = none\n"
           "[ policy_any ]\n"
           "commonName = supplied\n"
           "[ ext_ca ]\n"
           "basicConstraints = critical, CA:TRUE\n"
           "keyUsage = critical, keyCertSign, cRLSign\n"
           "subjectKeyIdentifier = hash\n" +
           leaf_section("ext_good", good_san) +
           leaf_section("ext_wrong_name", "DNS:wrong.test") +
           leaf_section("ext_a", "DNS:a.test") +
           leaf_section("ext_b", "DNS:b.test, DNS:*.b.test") +
           leaf_section("ext_self_signed", "DNS:localhost, IP:127.0.0.1");
}

// Writes `content` to `path`; throws when it cannot.
void write_file(std::string const& path, std::string const& content) {
    std::ofstream f(path);
    f << content;
    if (!f) throw std::runtime_error("test certificates: cannot write " + path);
}

// A new EC P-256 key (`name`.key) and a request for it (`name`.csr) with CN = `cn`.
void make_key_and_request(std::string const& dir, std::string const& name, std::string const& cn) {
    openssl(dir, {"req", "-new", "-config", dir + "/openssl.cnf", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-noenc", "-keyout", dir + "/" + name + ".key",
                  "-subj", "/CN=" + cn, "-out", dir + "/" + name + ".csr"});
}

// Signs `name`.csr with the CA into `name`.pem, with the extensions of section `ext` and the
// given validity (openssl ca's -days, or -startdate/-enddate).
void sign_with_ca(std::string const& dir, std::string const& name, std::string const& ext,
                  std::vector<std::string> const& validity) {
    std::vector<std::string> args = {"ca", "-batch", "-notext", "-config", dir + "/openssl.cnf",
                                     "-extensions", ext, "-in", dir + "/" + name + ".csr",
                                     "-out", dir + "/" + name + ".pem"};
    args.insert(args.end(), validity.begin(), validity.end());
    openssl(dir, args);
}

// A self-signed certificate `name`.pem with a new key `name`.key.
void make_self_signed(std::string const& dir, std::string const& name, std::string const& cn,
                      std::string const& ext) {
    openssl(dir, {"req", "-x509", "-new", "-config", dir + "/openssl.cnf", "-extensions", ext,
                  "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
                  "-keyout", dir + "/" + name + ".key", "-subj", "/CN=" + cn, "-days", "3650",
                  "-out", dir + "/" + name + ".pem"});
}

// Throws unless `cert` has really expired (openssl x509 -checkend 0 exits 1 for that).
void require_expired(std::string const& dir, std::string const& cert) {
    std::vector<std::string> args = {"openssl", "x509", "-noout", "-checkend", "0", "-in", cert};
    if (run_program(args, dir + "/openssl.log") != 1)
        throw std::runtime_error("test certificates: " + cert + " is not expired:\n" + slurp(dir + "/openssl.log"));
}

} // namespace

test_certs::test_certs() {
    char tmpl[] = "/tmp/edge522-tls-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("test certificates: mkdtemp failed");
    dir = tmpl;
    try {
        generate();
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);  // the exception carries the openssl output
        throw;
    }
}

void test_certs::generate() {
    std::filesystem::create_directory(dir + "/issued");
    write_file(dir + "/openssl.cnf", openssl_config(dir));
    write_file(dir + "/index.txt", "");
    write_file(dir + "/serial", "1000\n");

    make_self_signed(dir, "ca", "edge522 test CA", "ext_ca");
    ca_cert = dir + "/ca.pem";
    ca_key = dir + "/ca.key";

    std::vector<std::string> const valid = {"-days", "3650"};
    auto leaf = [&](std::string const& name, std::string const& cn, std::string const& ext,
                    std::vector<std::string> const& validity, std::string& cert, std::string& key) {
        make_key_and_request(dir, name, cn);
        sign_with_ca(dir, name, ext, validity);
        cert = dir + "/" + name + ".pem";
        key = dir + "/" + name + ".key";
    };
    leaf("good", "localhost", "ext_good", valid, good_cert, good_key);
    leaf("wrong_name", "wrong.test", "ext_wrong_name", valid, wrong_name_cert, wrong_name_key);
    // openssl 3.0's `x509 -req` cannot date a certificate in the past; `openssl ca` can.
    leaf("expired", "localhost", "ext_good", {"-startdate", "20200101000000Z", "-enddate", "20200102000000Z"},
         expired_cert, expired_key);
    require_expired(dir, expired_cert);
    leaf("a", "a.test", "ext_a", valid, a_cert, a_key);
    leaf("b", "b.test", "ext_b", valid, b_cert, b_key);

    make_self_signed(dir, "self_signed", "localhost", "ext_self_signed");
    self_signed_cert = dir + "/self_signed.pem";
    self_signed_key = dir + "/self_signed.key";
}

test_certs::~test_certs() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

test_certs const& certs() {
    static test_certs const made;  // a failure throws to the caller; the next call tries again
    return made;
}

// ---------------------------------------------------------------- origins

namespace detail {

// The server behind tls_origin and ws_origin: an acceptor on 127.0.0.1:0 and one coroutine per
// connection, all on one io_context run by one thread. With an ssl::context it speaks TLS first.
class origin_server {
public:
    enum class mode { healthy, websocket_echo };

    origin_server(std::unique_ptr<ssl::context> tls, mode m);
    ~origin_server();

    std::uint16_t port() const noexcept { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

    std::atomic<unsigned> connections{0};
    std::atomic<unsigned> handshakes{0};
    std::atomic<unsigned> handshakes_failed{0};
    std::atomic<unsigned> resumed{0};
    std::atomic<unsigned> requests{0};
    std::atomic<unsigned> upgrades{0};
    std::atomic<unsigned> messages{0};
    std::atomic<int> last_close_code{0};

    // Copies of the recorded strings, under the lock.
    std::vector<std::string> sni_seen() const { return locked_copy(sni_seen_); }
    std::vector<std::string> sni_failed() const { return locked_copy(sni_failed_); }
    std::vector<std::string> alpn_seen() const { return locked_copy(alpn_seen_); }
    std::string last_head() const { return locked_copy(last_head_); }
    std::string last_body() const { return locked_copy(last_body_); }

private:
    template <class T>
    T locked_copy(T const& value) const {
        std::lock_guard lk(mutex_);
        return value;
    }

    net::awaitable<void> accept_loop();
    net::awaitable<void> serve(tcp::socket socket);
    void record_handshake(SSL* ssl, bool ok);
    template <class Stream> net::awaitable<void> serve_http(Stream stream);
    template <class Stream> net::awaitable<void> echo_websocket(Stream stream, http::request<http::string_body> req);
    void record_request(std::string const& head);

    // Declared first so it is destroyed last: its destruction destroys the connections' coroutine frames.
    std::unique_ptr<ssl::context> tls_;
    net::io_context ioc_;
    tcp::acceptor acceptor_{ioc_};
    mode mode_;
    std::uint16_t port_ = 0;
    mutable std::mutex mutex_;
    std::vector<std::string> sni_seen_, sni_failed_, alpn_seen_;
    std::string last_head_, last_body_;
    std::thread thread_;
};

namespace {

// ALPN on the origin: http/1.1 when the client offers it, else no ALPN at all.
int select_http11(SSL*, unsigned char const** out, unsigned char* outlen, unsigned char const* in,
                  unsigned int inlen, void*) {
    static unsigned char const ours[] = "\x08http/1.1";
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

// A server context with `cert` (chain) and `key`, a session cache and tickets (so clients can
// resume), and ALPN http/1.1.
std::unique_ptr<ssl::context> server_context(std::string const& cert, std::string const& key) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    ctx->use_certificate_chain_file(cert);
    ctx->use_private_key_file(key, ssl::context::pem);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
    SSL_CTX_clear_options(native, SSL_OP_NO_TICKET);
    static unsigned char const id_context[] = "edge522-test-origin";
    SSL_CTX_set_session_id_context(native, id_context, sizeof id_context - 1);
    SSL_CTX_set_alpn_select_cb(native, select_http11, nullptr);
    return ctx;
}

// Catches what a connection's coroutine threw, so that nothing escapes the server's thread.
void ignore_exception(std::exception_ptr) noexcept {}

} // namespace

origin_server::origin_server(std::unique_ptr<ssl::context> tls, mode m) : tls_(std::move(tls)), mode_(m) {
    tcp::endpoint loopback(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(loopback.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(loopback);
    acceptor_.listen(1024);
    port_ = acceptor_.local_endpoint().port();
    net::co_spawn(ioc_, accept_loop(), ignore_exception);
    thread_ = std::thread([this] {
        for (;;) {
            try {
                ioc_.run();
                return;  // stopped by the destructor
            } catch (...) {
                // a handler threw: keep serving the other connections
            }
        }
    });
}

origin_server::~origin_server() {
    ioc_.stop();
    thread_.join();
    // The io_context's destructor (after the acceptor's) destroys the suspended connections.
}

net::awaitable<void> origin_server::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
        if (ec == net::error::operation_aborted) co_return;
        if (ec) {  // e.g. out of descriptors: try again shortly rather than spin
            net::steady_timer pause(ioc_, std::chrono::milliseconds(10));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        connections++;
        net::co_spawn(ioc_, serve(std::move(socket)), ignore_exception);
    }
}

// One connection: the TLS handshake when this is a TLS origin, then HTTP.
net::awaitable<void> origin_server::serve(tcp::socket socket) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (!tls_) {
        co_await serve_http(std::move(socket));
        co_return;
    }
    ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_nothrow);
    record_handshake(stream.native_handle(), !ec);
    if (ec) co_return;
    co_await serve_http(std::move(stream));
}

// Counts a handshake and keeps its SNI (and, when it completed, its ALPN and resumption).
void origin_server::record_handshake(SSL* ssl, bool ok) {
    char const* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    std::lock_guard lk(mutex_);
    if (!ok) {
        handshakes_failed++;
        sni_failed_.emplace_back(sni ? sni : "");
        return;
    }
    handshakes++;
    if (SSL_session_reused(ssl)) resumed++;
    sni_seen_.emplace_back(sni ? sni : "");
    unsigned char const* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    alpn_seen_.emplace_back(reinterpret_cast<char const*>(alpn), alpn ? alpn_len : 0);
}

void origin_server::record_request(std::string const& head) {
    requests++;
    std::lock_guard lk(mutex_);
    last_head_ = head;
}

// HTTP/1.1 keep-alive: each request head is kept verbatim, its body read (Content-Length or
// chunked, through Beast's parser) and answered like harness's origin::healthy. A WebSocket upgrade
// goes to echo_websocket when that is the mode.
template <class Stream>
net::awaitable<void> origin_server::serve_http(Stream stream) {
    std::string buf;  // bytes received and not parsed yet
    std::array<char, 65536> chunk;
    // Appends what the peer sends next to buf; false when the connection ended.
    auto receive = [&]() -> net::awaitable<bool> {
        auto [ec, n] = co_await stream.async_read_some(net::buffer(chunk), use_nothrow);
        if (ec) co_return false;
        buf.append(chunk.data(), n);
        co_return true;
    };
    for (;;) {
        std::size_t end;
        while ((end = buf.find("\r\n\r\n")) == std::string::npos)
            if (!co_await receive()) co_return;
        std::string head = buf.substr(0, end + 4);
        buf.erase(0, end + 4);
        record_request(head);

        http::request_parser<http::string_body> parser;
        parser.header_limit(1024 * 1024);
        parser.body_limit(64 * 1024 * 1024);
        parser.eager(true);
        error_code ec;
        parser.put(net::buffer(head), ec);
        if (ec || !parser.is_header_done()) co_return;  // not HTTP: drop the connection

        if (mode_ == mode::websocket_echo && websocket::is_upgrade(parser.get())) {
            co_await echo_websocket(std::move(stream), parser.release());
            co_return;
        }
        while (!parser.is_done()) {
            std::size_t used = buf.empty() ? 0 : parser.put(net::buffer(buf), ec);
            if (ec == http::error::need_more) ec = {};
            if (ec) co_return;
            buf.erase(0, used);
            if (used == 0 && !co_await receive()) co_return;
        }
        {
            std::lock_guard lk(mutex_);
            last_body_ = parser.get().body();
        }
        // The answer of harness's origin::healthy, byte for byte (no body for HEAD).
        std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                          std::to_string(head.size()) + "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                          "X-Accel-Redirect: /internal\r\n\r\n";
        if (parser.get().method() != http::verb::head) out += head;
        auto [wec, written] = co_await net::async_write(stream, net::buffer(out), use_nothrow);
        if (wec) co_return;
    }
}

// Accepts the upgrade `req` and echoes each message with its type until a close; the text message
// "close-from-origin" is answered with a close (1000) instead.
template <class Stream>
net::awaitable<void> origin_server::echo_websocket(Stream stream, http::request<http::string_body> req) {
    websocket::stream<Stream> ws(std::move(stream));
    ws.read_message_max(ws_max_message);
    auto [ec] = co_await ws.async_accept(req, use_nothrow);
    if (ec) co_return;
    upgrades++;
    beast::flat_buffer buffer;
    for (;;) {
        auto [rec, n] = co_await ws.async_read(buffer, use_nothrow);
        if (rec == websocket::error::closed) last_close_code = ws.reason().code;
        if (rec) co_return;
        if (ws.got_text() && beast::buffers_to_string(buffer.data()) == "close-from-origin") {
            // async_close sends ours, then reads until the peer's close frame comes back.
            auto [cec] = co_await ws.async_close(websocket::close_code::normal, use_nothrow);
            if (!cec) last_close_code = ws.reason().code;
            co_return;
        }
        ws.text(ws.got_text());
        auto [wec, written] = co_await ws.async_write(buffer.data(), use_nothrow);
        if (wec) co_return;
        messages++;
        buffer.consume(buffer.size());
    }
}

} // namespace detail

tls_origin::tls_origin(std::string const& cert, std::string const& key, behaviour b)
    : server_(std::make_unique<detail::origin_server>(
          detail::server_context(cert, key), b == behaviour::websocket_echo ? detail::origin_server::mode::websocket_echo
                                                                             : detail::origin_server::mode::healthy)) {}
tls_origin::~tls_origin() = default;

std::uint16_t tls_origin::port() const noexcept { return server_->port(); }
std::string tls_origin::address() const { return server_->address(); }
unsigned tls_origin::connections() const noexcept { return server_->connections.load(); }
unsigned tls_origin::handshakes() const noexcept { return server_->handshakes.load(); }
unsigned tls_origin::handshakes_failed() const noexcept { return server_->handshakes_failed.load(); }
unsigned tls_origin::resumed() const noexcept { return server_->resumed.load(); }
unsigned tls_origin::requests() const noexcept { return server_->requests.load(); }
unsigned tls_origin::upgrades() const noexcept { return server_->upgrades.load(); }
unsigned tls_origin::messages() const noexcept { return server_->messages.load(); }
std::vector<std::string> tls_origin::sni_seen() const { return server_->sni_seen(); }
std::vector<std::string> tls_origin::sni_failed() const { return server_->sni_failed(); }
std::vector<std::string> tls_origin::alpn_seen() const { return server_->alpn_seen(); }
std::string tls_origin::last_head() const { return server_->last_head(); }
std::string tls_origin::last_body() const { return server_->last_body(); }
int tls_origin::last_close_code() const noexcept { return server_->last_close_code.load(); }

ws_origin::ws_origin()
    : server_(std::make_unique<detail::origin_server>(nullptr, detail::origin_server::mode::websocket_echo)) {}
ws_origin::~ws_origin() = default;

std::uint16_t ws_origin::port() const noexcept { return server_->port(); }
std::string ws_origin::address() const { return server_->address(); }
unsigned ws_origin::connections() const noexcept { return server_->connections.load(); }
unsigned ws_origin::requests() const noexcept { return server_->requests.load(); }
unsigned ws_origin::upgrades() const noexcept { return server_->upgrades.load(); }
unsigned ws_origin::messages() const noexcept { return server_->messages.load(); }
std::string ws_origin::last_head() const { return server_->last_head(); }
int ws_origin::last_close_code() const noexcept { return server_->last_close_code.load(); }

// ---------------------------------------------------------------- clients

namespace {

// Runs `ioc` until the operation started on it sets `done`, for at most `limit`. On timeout the
// socket's operations are cancelled (they complete with operation_aborted) and drained: false.
bool run_until(net::io_context& ioc, bool const& done, std::chrono::milliseconds limit, tcp::socket& socket) {
    ioc.restart();
    ioc.run_for(limit);
    if (done) return true;
    error_code ignored;
    socket.cancel(ignored);
    ioc.restart();
    ioc.run();
    return false;
}

// Client-side TLS setup of one connection: SNI (`sni` unless it is "" or an IP literal), the name
// to verify (`sni`, or 127.0.0.1 when it is "") when verifying at all, ALPN and a session to resume.
void prepare_client_ssl(SSL* ssl, std::string const& sni, bool verify, std::vector<std::string> const& alpn,
                        SSL_SESSION* resume) {
    if (!sni.empty() && !is_ip_literal(sni)) SSL_set_tlsext_host_name(ssl, sni.c_str());
    if (verify) {
        std::string const name = sni.empty() ? "127.0.0.1" : sni;
        if (is_ip_literal(name))
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
        else
            SSL_set1_host(ssl, name.c_str());
    }
    if (!alpn.empty()) {
        std::string wire;  // length-prefixed protocol names
        for (auto const& p : alpn) wire += static_cast<char>(p.size()) + p;
        SSL_set_alpn_protos(ssl, reinterpret_cast<unsigned char const*>(wire.data()),
                            static_cast<unsigned int>(wire.size()));
    }
    if (resume) SSL_set_session(ssl, resume);
}

// A client context that verifies against `ca_file`, or does not verify when it is "".
void prepare_client_context(ssl::context& ctx, std::string const& ca_file) {
    if (ca_file.empty()) {
        ctx.set_verify_mode(ssl::verify_none);
        return;
    }
    ctx.load_verify_file(ca_file);
    ctx.set_verify_mode(ssl::verify_peer);
}

// A failed handshake's message, with the certificate verification result when that is why.
std::string handshake_failure(error_code const& ec, SSL* ssl) {
    std::string msg = ec.message();
    long result = SSL_get_verify_result(ssl);
    if (result != X509_V_OK) msg += std::string(": ") + X509_verify_cert_error_string(result);
    return msg;
}

// Parses one HTTP response from `buf` (same rules as harness's client::read_response), calling
// `more` whenever it needs bytes; `more` appends to buf and returns false when nothing more comes.
response parse_response(std::string& buf, std::function<bool()> const& more, bool head_request) {
    response r;
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
        if (!more()) return r;
    std::string head = buf.substr(0, end + 4);
    buf.erase(0, end + 4);
    std::istringstream is(head);
    std::string line;
    std::getline(is, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    r.status_line = line;
    if (line.size() >= 12 && line.compare(0, 5, "HTTP/") == 0) r.status = std::atoi(line.substr(9, 3).c_str());
    while (std::getline(is, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto c = line.find(':');
        if (c == std::string::npos) continue;
        auto v = line.substr(c + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        auto& slot = r.headers[lower(line.substr(0, c))];
        slot = slot.empty() ? v : slot + ", " + v;
    }
    if (head_request || r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200)) return r;
    auto fill = [&](std::size_t want) {
        while (buf.size() < want)
            if (!more()) return false;
        return true;
    };
    if (auto cl = r.header("content-length"); !cl.empty()) {
        auto n = std::stoull(cl);
        if (!fill(n)) return response{};
        r.body = buf.substr(0, n);
        buf.erase(0, n);
    } else if (lower(r.header("transfer-encoding")).find("chunked") != std::string::npos) {
        for (;;) {
            while ((end = buf.find("\r\n")) == std::string::npos)
                if (!more()) return response{};
            auto size = std::stoull(buf.substr(0, end), nullptr, 16);
            buf.erase(0, end + 2);
            if (!fill(size + 2)) return response{};
            if (size == 0) {
                buf.erase(0, 2);
                break;
            }
            r.body.append(buf, 0, size);
            buf.erase(0, size + 2);
        }
    } else {
        while (more()) {}
        r.body = std::move(buf);
        buf.clear();
    }
    return r;
}

} // namespace

struct tls_client::impl {
    net::io_context ioc;
    ssl::context ctx{ssl::context::tls_client};
    std::optional<ssl::stream<tcp::socket>> stream;
    std::chrono::milliseconds timeout;
    bool handshaken = false;
    std::string pending;  // received, not parsed yet

    SSL* ssl() { return stream->native_handle(); }
    tcp::socket& socket() { return stream->next_layer(); }

    // Appends the next bytes received to `pending`; false on close, error or no byte within `limit`.
    bool receive(std::chrono::milliseconds limit) {
        std::array<char, 65536> chunk;
        bool done = false;
        error_code ec;
        std::size_t n = 0;
        stream->async_read_some(net::buffer(chunk), [&](error_code e, std::size_t got) {
            ec = e;
            n = got;
            done = true;
        });
        if (!run_until(ioc, done, limit, socket()) || ec) return false;
        pending.append(chunk.data(), n);
        return true;
    }
};

tls_client::tls_client(std::uint16_t port, std::string sni, std::string ca_file, std::vector<std::string> alpn,
                       tls_session resume, std::chrono::milliseconds recv_timeout)
    : impl_(std::make_unique<impl>()) {
    impl_->timeout = recv_timeout;
    prepare_client_context(impl_->ctx, ca_file);
    impl_->stream.emplace(impl_->ioc, impl_->ctx);
    impl_->socket().connect({net::ip::make_address("127.0.0.1"), port});
    impl_->socket().set_option(tcp::no_delay(true));
    prepare_client_ssl(impl_->ssl(), sni, !ca_file.empty(), alpn, resume.get());
}

tls_client::~tls_client() = default;

std::string tls_client::handshake() {
    bool done = false;
    error_code ec;
    impl_->stream->async_handshake(ssl::stream_base::client, [&](error_code e) {
        ec = e;
        done = true;
    });
    if (!run_until(impl_->ioc, done, impl_->timeout, impl_->socket()))
        return "handshake timed out after " + std::to_string(impl_->timeout.count()) + " ms";
    impl_->handshaken = !ec;
    return ec ? handshake_failure(ec, impl_->ssl()) : "";
}

std::string tls_client::peer_subject() const {
    X509* cert = SSL_get0_peer_certificate(impl_->ssl());
    if (!cert) return {};
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_ONELINE);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string subject(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    return subject;
}

std::vector<std::string> tls_client::peer_san() const {
    std::vector<std::string> out;
    X509* cert = SSL_get0_peer_certificate(impl_->ssl());
    if (!cert) return out;
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (!names) return out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
        GENERAL_NAME const* name = sk_GENERAL_NAME_value(names, i);
        if (name->type == GEN_DNS) {
            auto const* s = name->d.dNSName;
            out.push_back("DNS:" + std::string(reinterpret_cast<char const*>(ASN1_STRING_get0_data(s)),
                                               static_cast<std::size_t>(ASN1_STRING_length(s))));
        } else if (name->type == GEN_IPADD) {
            auto const* s = name->d.iPAddress;
            char text[INET6_ADDRSTRLEN] = {};
            int family = ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6;
            ::inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof text);
            out.push_back(std::string("IP:") + text);
        }
    }
    GENERAL_NAMES_free(names);
    return out;
}

std::string tls_client::alpn() const {
    unsigned char const* p = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(impl_->ssl(), &p, &len);
    return p ? std::string(reinterpret_cast<char const*>(p), len) : std::string{};
}

std::string tls_client::tls_version() const { return SSL_get_version(impl_->ssl()); }

bool tls_client::session_reused() const { return SSL_session_reused(impl_->ssl()) == 1; }

tls_session tls_client::session() const {
    // A copy, not the connection's own session: OpenSSL marks that one not resumable when the
    // connection is freed without a close_notify (ssl_clear_bad_session), as tests often do.
    SSL_SESSION* own = SSL_get0_session(impl_->ssl());
    SSL_SESSION* copy = own ? SSL_SESSION_dup(own) : nullptr;
    if (!copy) return nullptr;
    return tls_session(copy, [](SSL_SESSION* p) { SSL_SESSION_free(p); });
}

void tls_client::send(std::string const& raw) {
    if (!impl_->handshaken) throw std::runtime_error("tls_client::send before a successful handshake()");
    bool done = false;
    error_code ec;
    net::async_write(*impl_->stream, net::buffer(raw), [&](error_code e, std::size_t) {
        ec = e;
        done = true;
    });
    if (!run_until(impl_->ioc, done, impl_->timeout, impl_->socket())) throw std::runtime_error("send timed out");
    if (ec) throw std::runtime_error("send failed: " + ec.message());
}

response tls_client::read_response(bool head_request) {
    if (!impl_->handshaken) return {};
    return parse_response(impl_->pending, [this] { return impl_->receive(impl_->timeout); }, head_request);
}

response tls_client::request(std::string const& raw, bool head_request) {
    auto t0 = clock_type::now();
    send(raw);
    auto r = read_response(head_request);
    r.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    return r;
}

bool tls_client::closed_within(std::chrono::milliseconds limit) {
    auto until = clock_type::now() + limit;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
        if (left.count() <= 0) return false;
        bool done = false;
        error_code ec;
        std::array<char, 65536> chunk;
        impl_->stream->async_read_some(net::buffer(chunk), [&](error_code e, std::size_t) {
            ec = e;
            done = true;
        });
        if (!run_until(impl_->ioc, done, left, impl_->socket())) return false;
        if (ec) return true;  // close_notify, EOF without it (stream_truncated) or a reset
    }
}

void tls_client::close() {
    if (impl_->handshaken) {
        bool done = false;
        impl_->stream->async_shutdown([&](error_code) { done = true; });
        run_until(impl_->ioc, done, std::chrono::milliseconds(1000), impl_->socket());
    }
    error_code ignored;
    impl_->socket().close(ignored);
    impl_->handshaken = false;
}

// ---------------------------------------------------------------- WebSocket client

struct ws_client::impl {
    net::io_context ioc;
    ssl::context ctx{ssl::context::tls_client};
    std::optional<websocket::stream<tcp::socket>> plain;
    std::optional<websocket::stream<ssl::stream<tcp::socket>>> secure;
    std::chrono::milliseconds timeout;
    std::string handshake_error;
    int handshake_status = 0;
    std::string last_error;
    std::optional<int> close_code;  // once the peer's close frame came

    // Calls f with whichever WebSocket stream this client has.
    template <class F>
    decltype(auto) with_ws(F&& f) {
        return secure ? f(*secure) : f(*plain);
    }
    tcp::socket& socket() { return secure ? secure->next_layer().next_layer() : plain->next_layer(); }

    // Starts `start(handler)` and waits for it up to `limit`; the error (timed_out on timeout).
    template <class Start>
    error_code wait(Start&& start, std::chrono::milliseconds limit) {
        bool done = false;
        error_code ec;
        start([&](error_code e, auto&&...) {
            ec = e;
            done = true;
        });
        if (!run_until(ioc, done, limit, socket())) return net::error::timed_out;
        return ec;
    }

    // Notes why a call failed; a close frame from the peer is kept as close_code.
    void note_failure(error_code const& ec) {
        last_error = ec.message();
        if (ec == websocket::error::closed) with_ws([&](auto& ws) { close_code = static_cast<int>(ws.reason().code); });
    }

    // The TLS handshake of a wss client; false (and handshake_error) when it failed.
    bool tls_handshake() {
        auto ec = wait([&](auto handler) { secure->next_layer().async_handshake(ssl::stream_base::client, handler); },
                       timeout);
        if (ec) handshake_error = "TLS: " + handshake_failure(ec, secure->next_layer().native_handle());
        return !ec;
    }
};

ws_client::ws_client(std::uint16_t port, bool tls, std::string host, std::string ca_file, std::string target,
                     std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>()) {
    auto& d = *impl_;
    d.timeout = timeout;
    tcp::socket socket(d.ioc);
    error_code ec;
    socket.connect({net::ip::make_address("127.0.0.1"), port}, ec);
    if (ec) {
        d.handshake_error = "connect: " + ec.message();
        d.plain.emplace(std::move(socket));  // so that every other call fails cleanly
        return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (tls) {
        prepare_client_context(d.ctx, ca_file);
        d.secure.emplace(std::move(socket), d.ctx);
        prepare_client_ssl(d.secure->next_layer().native_handle(), host, !ca_file.empty(), {"http/1.1"}, nullptr);
        if (!d.tls_handshake()) return;
    } else {
        d.plain.emplace(std::move(socket));
    }
    websocket::response_type res;
    ec = d.with_ws([&](auto& ws) {
        ws.read_message_max(4 * ws_max_message);
        return d.wait([&](auto handler) { ws.async_handshake(res, host, target, handler); }, timeout);
    });
    d.handshake_status = static_cast<int>(res.result_int());
    if (ec) d.handshake_error = "WebSocket: " + ec.message() + " (HTTP status " + std::to_string(d.handshake_status) + ")";
}

ws_client::~ws_client() = default;

std::string ws_client::handshake_error() const { return impl_->handshake_error; }
int ws_client::handshake_status() const { return impl_->handshake_status; }

bool ws_client::send(std::string const& msg, bool binary) {
    auto& d = *impl_;
    if (!d.handshake_error.empty()) return false;
    auto ec = d.with_ws([&](auto& ws) {
        ws.binary(binary);
        return d.wait([&](auto handler) { ws.async_write(net::buffer(msg), handler); }, d.timeout);
    });
    if (ec) d.note_failure(ec);
    return !ec;
}

std::optional<ws_client::message> ws_client::receive() {
    auto& d = *impl_;
    if (!d.handshake_error.empty()) return std::nullopt;
    beast::flat_buffer buffer;
    message m;
    auto ec = d.with_ws([&](auto& ws) {
        auto e = d.wait([&](auto handler) { ws.async_read(buffer, handler); }, d.timeout);
        m.binary = ws.got_binary();
        return e;
    });
    if (ec) {
        d.note_failure(ec);
        return std::nullopt;
    }
    m.data = beast::buffers_to_string(buffer.data());
    return m;
}

bool ws_client::send_and_expect_echo(std::string const& msg, bool binary) {
    if (!send(msg, binary)) return false;
    auto echo = receive();
    if (!echo) return false;
    if (echo->binary != binary || echo->data != msg) {
        impl_->last_error = "the echo differs: " + std::to_string(echo->data.size()) + " bytes, " +
                            (echo->binary ? "binary" : "text") + " (sent " + std::to_string(msg.size()) +
                            " bytes, " + (binary ? "binary" : "text") + ")";
        return false;
    }
    return true;
}

bool ws_client::close(int code) {
    auto& d = *impl_;
    if (!d.handshake_error.empty()) return false;
    auto ec = d.with_ws([&](auto& ws) {
        websocket::close_reason reason(static_cast<std::uint16_t>(code));
        return d.wait([&](auto handler) { ws.async_close(reason, handler); }, d.timeout);
    });
    if (ec) d.note_failure(ec);
    return !ec;
}

std::optional<int> ws_client::wait_for_close(std::chrono::milliseconds limit) {
    auto& d = *impl_;
    if (!d.handshake_error.empty()) return std::nullopt;
    auto until = clock_type::now() + limit;
    while (!d.close_code) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
        if (left.count() <= 0) {
            d.last_error = "no close within " + std::to_string(limit.count()) + " ms";
            return std::nullopt;
        }
        beast::flat_buffer buffer;
        auto ec = d.with_ws([&](auto& ws) { return d.wait([&](auto handler) { ws.async_read(buffer, handler); }, left); });
        if (ec) {
            d.note_failure(ec);
            if (ec != websocket::error::closed) return std::nullopt;
        }
    }
    return d.close_code;
}

std::string ws_client::last_error() const { return impl_->last_error; }

} // namespace edge522::test
