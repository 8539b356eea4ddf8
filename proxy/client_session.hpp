#pragma once
// One client connection, from accept to close, on its worker's thread. It reads a request head,
// decides what the request means (target, host, route, access rules), and either answers itself
// (error pages, /cdn-cgi/error/CODE) or runs one exchange with an origin in named steps:
//
//   acquire (pool, or connect with failover) -> send_request (head, streamed body; an early
//   response from the origin stops the upload) -> read_response_head -> relay_response (streamed
//   body, trailers) | tunnel (101)
//
// Each step works on `transport`s (plain TCP or TLS) and reports a typed outcome; forward() only
// sequences them and retries a stale pooled connection once. Requests on a connection are answered
// in order; every answer, the edge's own included, is logged and counted once (finish()).
//
// Lifetime: the run() coroutine (or, while a plain connection is parked, its readiness wait's
// handler) and the watchdog timer's handler each hold a shared_ptr; the session dies when run()
// ends and the cancelled timer's handler has run. Idle between requests, a plain connection that
// asked once parks at once (no coroutine, no buffer); a busy one (its last request came within
// busy_gap of the answer before) waits in run() and is parked by the worker's next sweep.
//
// Every timeout, toward the client and toward the origin, the origin connect's included, is one
// watchdog timer with named phases (RESTinio style): arming a phase only moves a number; the timer
// sleeps at most the shortest phase timeout ahead, so it is cancelled and re-armed only when a
// deadline comes earlier than that (a connect, a short linger, a tunnel's idle time), and an expiry
// cancels the transport of its phase. (DNS resolution and the origin's TLS handshake have their own.)
//
//   idle --bytes--> head --parsed--> [exchange] --> write --> idle (keep-alive) | linger | closed
//   idle: client_idle (client_header for the first request)   head: client_header -> 408
//   body: client_header between body reads -> 408              write: write -> closed
//   connect: the origin's connect -> 522 (watchdog_deadline)
//   origin_write: write -> 524 (or 522 via TCP_USER_TIMEOUT)   origin_read: read -> 524
//   tunnel: tunnel_idle without a byte either way -> closed   linger: bounded drain of an unread body

#include "proxy/failure.hpp"
#include "proxy/http_io.hpp"
#include "proxy/origin_connector.hpp"
#include "proxy/transport.hpp"
#include "proxy/worker.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace edge522 {

struct request_target;
struct exchange;
struct origin_link;
struct connect_result;

class client_session : public std::enable_shared_from_this<client_session>, public session_hook {
public:
    using clock = std::chrono::steady_clock;

    // `tls`: accepted on an HTTPS listener; the handshake runs first, under client_header.
    // `peer`: the client's address as accept() returned it.
    client_session(worker& w, tcp_socket socket, boost::asio::ip::tcp::endpoint const& peer, bool tls = false);
    ~client_session();

    void start();
    // From the worker when draining: an idle connection is closed at once; a busy one finishes its
    // exchange and then closes; a tunnel is closed.
    void drain();
    // From the worker when drain_timeout has passed: whatever is in flight is cut (and logged so).
    void abort();
    // From the worker's sweep (once a second): a plain connection still waiting for its next
    // request in its coroutine parks (park()), so that an idle connection holds no coroutine.
    void park_if_waiting();

private:
    enum class phase : std::uint8_t {
        none, handshake, idle, head, body, write, connect, origin_write, origin_read, tunnel, linger
    };
    // How a step of the exchange ended. stale: a reused origin connection turned out closed before
    // any response byte, and the request can be replayed on a new one.
    enum class step { ok, stale, failed, client_gone, early_response };

    // Serves requests until the connection ends, or until a plain connection falls idle (park()).
    // `first`: the connection's first request (its head is due client_header after the accept).
    void spawn(bool first);
    task<void> run(std::shared_ptr<client_session> self, bool first_request);
    // The watchdog: one timer, re-armed by its own handler (which holds the session) until closed.
    void watch();
    void on_watch();

    // Idle, before the next request (or the first): the deadline armed, the buffers released.
    // false: no further request is to be read (keep-alive off, draining).
    bool begin_idle(bool first);
    // Idle on plain TCP, first in place: the coroutine waits for the next request, so a busy
    // connection costs no co_spawn per request. request: bytes are in buffer_; park: the sweep
    // asked (park_if_waiting()); closed: EOF, an error, the idle timeout or a drain.
    enum class idle_end { request, park, closed };
    task<idle_end> wait_in_place();
    // Idle on plain TCP, nginx's way: no coroutine frame and no buffer, only a readiness wait whose
    // handler holds the session; on readability the head's first read, and run() again.
    void park(bool first);
    void on_readable(boost::system::error_code ec, bool first);
    // After a parked connection's readiness wait: the head's first read, without blocking.
    // request: bytes are in buffer_ and the connection is no longer idle (busy_ says whether it
    // asked within busy_gap); nothing: a spurious report, wait again; closed: EOF or an error.
    enum class woke { request, nothing, closed };
    woke receive_after_wake(bool first);
    // Idle over TLS (the engine may hold a decrypted request already: read through it). false:
    // closed, timed out or draining.
    task<bool> wait_for_request();
    // One request, read, judged and answered; whether the connection may carry another.
    task<bool> serve(bool first);

    // HTTPS: the TLS handshake under client_header. false: the connection ends (a failed or stalled
    // handshake, or plain HTTP sent to the HTTPS port, which gets nginx's 400 in plain HTTP).
    task<bool> start_tls();
    task<void> answer_plain_http();
    // The end of the connection: TLS close_notify (bounded), FIN, close.
    task<void> close_client();
    void close_now() noexcept;  // FIN and close, the watchdog stopped

    // The request: read and judged; its target into `t`. false: answered (or the client went
    // away); stop.
    task<bool> read_request(exchange& x, request_parser& parser, request_target& t);
    // The request read (`r`), judged without I/O: serve it; answer it with `f` (x.fail says why:
    // 400, 408, 431, 414, 501); or close (the client went away). Not part of read_request()'s frame.
    enum class verdict { serve, answer, close };
    verdict judge_request(head_result const& r, exchange& x, request_parser& parser, request_target& t, failure& f);
    // Where the request goes, decided without I/O: its origin, or null and the edge's own answer
    // (`answer`: access denied, a /cdn-cgi/error/CODE preview, no origin for the host). Not a
    // coroutine: a request pending on its origin holds no frame for it.
    config::origin const* route(exchange& x, request_target const& t, failure& answer);

    // The exchange with an origin, step by step.
    task<bool> forward(config::origin const& o, request_parser& parser, exchange& x,
                       request_target const& t);
    // The head the origin gets, into wire_; false (and x.fail): a field the edge appends to would
    // exceed max_field_line (431). Not a coroutine: forward() keeps none of its state.
    bool write_forwarded_head(config::origin const& o, request_parser const& parser, exchange& x,
                              request_target const& t);
    // The same verdict before a new connection, without building the head.
    bool forwarded_head_fits(request_parser const& parser, exchange& x);
    // x.fail for a head the edge's additions would overflow.
    static void fail_head_overflow(exchange& x);
    // An origin connection for the request: a pooled one to server `si` (none after a stale one,
    // `fresh_only`, or under a fault that needs a new connection), else acquire() connects, with
    // failover to the next server (whose pool it tries first).
    bool take_pooled(std::optional<origin_link>& link, config::origin const& o, std::size_t si, exchange& x,
                     bool fresh_only);
    // Its outcomes go into out-parameters (here `link`), not return values: a returned value is one
    // more copy in the caller's coroutine frame too, held as long as a connect pends.
    task<void> acquire(std::optional<origin_link>& link, config::origin const& o, exchange& x,
                       bool fresh_only);
    // After a connect (cr): the metrics and the exchange's record of it; false (and x.fail) when it
    // failed. Not a coroutine: acquire()'s frame keeps none of it.
    bool connected(connect_result const& cr, config::origin const& o, exchange& x, bool emulated);
    // The connect's deadline kept by this session's watchdog (phase::connect) rather than by a
    // timer of the connect's own: a pending connect holds no timer, wait operation or timer-queue
    // entry, and abort() reaches it. Lent too to an emulated fault's wait, which abort() cuts
    // alike. Lives in the frame of the coroutine that waits.
    class watchdog_deadline final : public connect_deadline {
    public:
        explicit watchdog_deadline(client_session& s) noexcept : s_(s) {}
        void start(tcp_socket& socket, clock::time_point at) noexcept override;
        void start(worker_timer& timer) noexcept override;
        bool stop() noexcept override;
        void cut() noexcept;  // cancels the connect or the wait

    private:
        client_session& s_;
        tcp_socket* socket_ = nullptr;
        worker_timer* timer_ = nullptr;
    };
    // Waits until `t` as an origin that holds back its answer (an emulated fault): false when a
    // drain cut the wait.
    task<bool> hold_until(clock::time_point t);
    // TLS on a new origin connection (`ctx` null: a plain origin under a tls_fail/bad_cert fault):
    // `link` is set, or stays empty and x.error says why (525 or 526).
    task<void> secure(std::optional<origin_link>& link, tcp_socket& socket,
                      tls::origin_context* ctx, config::host_port const& server,
                      std::string const& key, exchange& x);
    // One round of the exchange on `link`: the request sent, the response read and relayed, or the
    // edge's answer. Its own coroutine, so that its state (the response parser) is not held in
    // forward()'s frame while a connect pends. retry: a reused connection was stale (`may_retry`).
    enum class round { retry, keep_alive, close };
    task<round> exchange_on(origin_link& link, std::string_view head, request_parser& parser,
                            exchange& x, bool may_retry);
    task<step> send_request(origin_link& link, std::string_view head, request_parser& parser,
                            exchange& x);
    task<step> send_body(origin_link& link, request_parser& parser, exchange& x);
    task<step> read_response_head(origin_link& link, std::optional<response_parser>& rp,
                                  exchange& x);
    task<bool> relay_response(origin_link& link, response_parser& rp, exchange& x);
    task<void> tunnel(origin_link& link, exchange& x);

    // One body moved from `from` to `to`, re-framed (chunked or as is), bounded buffer, deadlines
    // per phase. Serves both directions.
    struct pump_spec {
        phase read_phase;
        std::chrono::milliseconds read_timeout;
        phase write_phase;
        std::chrono::milliseconds write_timeout;
        char* chunk;                  // the relay buffer (exchange::relay_chunk bytes)
        bool chunked_out = false;     // frame what the parser de-chunked as chunks again
        bool trailers = false;        // send the parser's trailer fields after the last chunk
        std::size_t head_fields = 0;  // fields of the head: the ones after it are trailers
        std::string_view head;        // sent with the first body bytes ("" = already sent)
        std::uint64_t* sent = nullptr;  // counts the bytes written (toward the client)
        bool* consumed = nullptr;       // set once a body byte was taken from `from`
        std::string* replay = nullptr;  // keeps a copy of what was written, up to exchange::replay_limit
        bool* replay_overflow = nullptr;
    };
    struct pump_result {
        boost::system::error_code read_ec;   // from `from` (the parser's errors included)
        boost::system::error_code write_ec;  // from `to`
    };
    template <class Parser>
    task<pump_result> pump(transport& from, boost::beast::flat_buffer& from_buf, Parser& parser,
                           transport& to, pump_spec const& spec);

    // The edge's own answer for `f`. Returns whether the connection may carry another request.
    task<bool> answer(failure f, exchange& x, bool keep_alive);
    // Writes `bytes` to the client under the write deadline; counts them.
    task<bool> write_client(std::string_view bytes, exchange& x);
    // After an answer with request body still unsent by the client: stop writing, read and drop
    // the rest for a bounded time and size, then close (RFC 9112 9.6), so the client sees the answer.
    task<void> linger();
    void finish(exchange& x);
    std::string_view cut_reason(boost::system::error_code const& ec) const noexcept;

    // An operation the watchdog cancelled in phase `p` reports beast::error::timeout.
    boost::system::error_code timed_out_as(boost::system::error_code ec, phase p) noexcept;
    // True when a drain's end cut the exchange (abort()): what failed then is not the origin's
    // doing, so no answer is written; x.cut says "drain" in the access log.
    bool cut_by_drain(exchange& x) const noexcept;
    void arm(phase p, clock::time_point deadline);
    void disarm() noexcept { phase_ = phase::none; }

    worker& worker_;
    transport client_;
    boost::beast::flat_buffer buffer_;
    // On the io_context's own executor type, not any_io_executor: the timer, and the wait operation
    // an idle connection keeps pending on it, are 48 bytes smaller each.
    worker_timer timer_;
    clock::time_point accepted_at_;
    clock::time_point deadline_ = clock::time_point::max();
    clock::time_point wake_at_ = clock::time_point::max();  // when the watchdog's timer is due
    clock::time_point idle_since_;   // when the connection last fell idle
    transport* origin_ = nullptr;  // the origin transport of the exchange in flight (watchdog, drain)
    watchdog_deadline* waiting_ = nullptr;  // a pending origin connect or emulated wait (watchdog, abort)
    // The flags together, one byte each: an idle connection is mostly this object, and padding
    // between them would take it past 384 bytes with its control block (the allocator's size class).
    phase phase_ = phase::none;
    phase expired_ = phase::none;
    bool idle_ = false;
    bool busy_ = false;              // its last request followed the answer before closely (busy_gap)
    bool waiting_in_place_ = false;  // in wait_in_place()'s read
    bool parked_ = false;            // in park()'s readiness wait
    bool park_requested_ = false;    // the sweep cancelled that wait: park
    bool closed_ = false;
    bool linger_ = false;        // the last request's body was not read to its end
    bool aborted_ = false;       // drain_timeout passed: in-flight work is being cut
    bool tls_ = false;           // accepted on an HTTPS listener
    bool drain_hint_ = false;    // its reads report a drained socket (drained_read.hpp)
    std::string client_ip_;
    boost::asio::ip::address client_addr_;  // for access rules (IPv4-mapped IPv6 shown as IPv4)
    std::string wire_;  // an outgoing head being written; reused across requests
};

} // namespace edge522
