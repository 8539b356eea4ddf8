#pragma once
// Loopback scenario kit: real origins (healthy, refusing, blackholed, silent, garbage, empty,
// reset, slow, streaming), the real edge522 binary started from an inline TOML string on port 0,
// and a raw HTTP client. Everything stays on 127.0.0.1; every port comes from binding port 0.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace edge522::test {

using clock_type = std::chrono::steady_clock;

// A test origin on 127.0.0.1:<port 0>, served by its own thread.
class origin {
public:
    enum class behaviour {
        healthy,   // 200, body = the request head it received (so tests can see forwarded headers)
        slow,      // like healthy, after `delay`
        silent,    // accepts, reads, never answers
        garbage,   // answers bytes that are not HTTP
        empty,     // reads the request, closes without a byte
        reset,     // reads the request, resets the connection (SO_LINGER 0)
        stream,    // 200 with `stream_bytes` of body, chunked or with Content-Length
        echo_size, // 200, body = the number of request body bytes received
        close_after, // like healthy (keep-alive headers and all), then closes the connection
        stall,     // accepts with a tiny receive buffer and never reads: the window closes
        upgrade,   // answers an Upgrade request with 101, then echoes bytes back
        raw,       // reads the request (head and body), answers `raw_response` verbatim; closes when raw_close
        early,     // reads only the request head, answers `raw_response`, then closes (unread body: RST)
        one_shot,  // like echo_size for a connection's first request (keep-alive announced); takes a
                   // second request whole, then closes without a byte: a keep-alive that ended mid-way
    };

    explicit origin(behaviour b, std::chrono::milliseconds delay = std::chrono::milliseconds(0));
    ~origin();

    std::uint16_t port() const noexcept { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    unsigned connections() const noexcept { return connections_.load(); }
    unsigned requests() const noexcept { return requests_.load(); }
    unsigned closed_by_peer() const noexcept { return closed_by_peer_.load(); }  // EOFs seen
    std::string last_head() const;
    std::vector<std::string> peers() const;  // source address of every accepted connection, in order

    std::uint64_t stream_bytes = 0;
    bool stream_chunked = false;
    std::string raw_response;  // for raw and early; set before the first request
    bool raw_close = false;
    // raw: the raw_close_at-th request of a connection (1-based; 0 = none) is answered `raw_last`
    // instead, sent in one segment with the FIN (the bytes and the close arrive together).
    unsigned raw_close_at = 0;
    std::string raw_last;

private:
    void serve(boost::asio::ip::tcp::socket s);

    behaviour behaviour_;
    std::chrono::milliseconds delay_;
    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::atomic<unsigned> connections_{0};
    std::atomic<unsigned> requests_{0};
    std::atomic<unsigned> closed_by_peer_{0};
    mutable std::mutex mutex_;
    std::string last_head_;
    std::vector<std::string> peers_;
    std::thread thread_;
    std::vector<std::thread> conn_threads_;
    std::vector<boost::asio::ip::tcp::socket> stalled_;
    std::atomic<bool> stopping_{false};
};

// Bound, not listening: every connect gets RST (ECONNREFUSED).
class refusing_origin {
public:
    refusing_origin();
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
private:
    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::socket socket_{ioc_};
    std::uint16_t port_ = 0;
};

// listen(backlog 0) + one connect that is never accepted: the accept queue is full, further SYNs
// are dropped, connects hang in SYN-SENT. No root needed.
class blackholed_origin {
public:
    blackholed_origin();
    ~blackholed_origin();
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    std::uint16_t port() const noexcept { return port_; }
private:
    int listen_fd_ = -1;
    int filler_fd_ = -1;
    std::uint16_t port_ = 0;
};

// The real binary, from a TOML string. stdout+stderr go to a log file (never a pipe that could
// fill). The constructor waits for the "listening on" line.
class edge {
public:
    explicit edge(std::string const& toml, std::vector<std::string> extra_args = {},
                  std::vector<std::string> wrapper = {});
    ~edge();

    std::uint16_t port() const noexcept { return port_; }
    std::uint16_t admin_port() const;  // from the "admin listening on" line; 0 when none
    std::uint16_t tls_port() const;    // the first "listening on https://" line; 0 when none
    int pid() const noexcept { return pid_; }
    std::string log() const;
    // The access log is buffered (flushed every second): wait for `text` to show up.
    bool log_contains(std::string const& text, std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) const;
    std::string config_path() const { return dir_ + "/edge.toml"; }
    // Sends `sig`; wait_exit() then returns the exit code (or -signal).
    void signal(int sig) const;
    int wait_exit(std::chrono::milliseconds limit = std::chrono::milliseconds(15000));
    long rss_kib() const;   // VmRSS
    long hwm_kib() const;   // VmHWM

private:
    int pid_ = -1;
    std::uint16_t port_ = 0;
    std::string dir_;
    bool exited_ = false;
};

// The binary running a subcommand in the background (e.g. tarpit), until destroyed (SIGTERM).
class background {
public:
    // Waits for `marker` + "HOST:PORT" on the output and keeps the ports in order.
    background(std::vector<std::string> args, std::string const& marker, std::size_t listeners = 1);
    ~background();
    std::vector<std::uint16_t> const& ports() const noexcept { return ports_; }
    std::string output() const;
private:
    int pid_ = -1;
    std::string dir_;
    std::vector<std::uint16_t> ports_;
};

// Runs the binary to completion (for `check`, bad configs, bind conflicts).
struct run_result {
    int exit_code = -1;
    std::string output;  // stdout + stderr
};
run_result run_edge(std::vector<std::string> args, std::chrono::milliseconds limit = std::chrono::milliseconds(10000));
std::string write_temp(std::string const& name, std::string const& content);

struct response {
    int status = 0;            // 0 = no parsable response (connection closed / timed out)
    std::string status_line;   // "HTTP/1.1 522 Connection Timed Out"
    std::map<std::string, std::string> headers;  // lowercase names; repeated fields joined by ", "
    std::string body;
    double seconds = 0;        // from the request's first byte sent to the response fully read
    std::string header(std::string const& name) const;
};

// A raw client connection to the edge.
class client {
public:
    explicit client(std::uint16_t port, std::chrono::milliseconds recv_timeout = std::chrono::milliseconds(10000));
    // From a chosen source address (e.g. "127.0.0.7"), to `target` ("127.0.0.1" or "::1").
    client(std::uint16_t port, std::string const& source, std::string const& target = "127.0.0.1");
    void send(std::string const& raw);
    response read_response(bool head_request = false);
    response request(std::string const& raw, bool head_request = false);
    std::string read_exactly(std::size_t n);
    void shutdown();  // both directions: unblocks a send or recv in another thread
    void shutdown_send();  // half-close: a FIN, reading goes on
    void send_with_fin(std::string const& raw);  // the bytes and the FIN in one segment
    // True when the peer closed (EOF/RST) within `limit`.
    bool closed_within(std::chrono::milliseconds limit);
private:
    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::socket socket_{ioc_};
    std::string pending_;
};

// One GET on a new connection from `source`.
response get_from(std::string const& source, std::uint16_t port, std::string const& host = "app.test",
                  std::string const& extra_headers = "", std::string const& target = "127.0.0.1");

// One GET on a new connection.
response get(std::uint16_t port, std::string const& target = "/", std::string const& host = "app.test",
             std::string const& extra_headers = "");

// A config with one origin "app" for every host, the given servers and timeouts; admin off unless
// `admin_toml` gives the [admin] body.
std::string simple_config(std::vector<std::string> const& servers, std::string const& timeouts_toml = "",
                          std::string const& origin_extra = "", std::string const& edge_extra = "",
                          std::string const& admin_toml = "listen = \"\"");

} // namespace edge522::test
