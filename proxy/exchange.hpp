#pragma once
// The state of one request as client_session's steps share it: what was asked, where it went,
// what happened (a typed failure plus the diagnosis line), what the client got. Lives on the
// session's run() frame for one request; read by the access log, the metrics and the error page.

#include "proxy/failure.hpp"
#include "proxy/faults.hpp"
#include "proxy/http_io.hpp"
#include "proxy/ray_id.hpp"
#include "proxy/transport.hpp"
#include "proxy/worker.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace edge522 {

struct exchange {
    using clock = std::chrono::steady_clock;

    // Body bytes move through one bounded buffer, borrowed from the worker while a body moves.
    static constexpr std::size_t relay_chunk = worker::relay_buffer_size;
    // Requests for /cdn-cgi/error/CODE are counted under this origin label.
    static constexpr std::string_view preview_origin = "cdn-cgi";

    exchange(std::shared_ptr<runtime const> r, ray_id id) : rt(std::move(r)), ray(id) {}

    config::config const& cfg() const noexcept { return *rt->cfg; }
    long elapsed_ms() const noexcept {
        return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count());
    }

    // Records what failed; a second failure (after a failover) is appended to the diagnosis.
    void fail(failure f, std::string_view in_phase, std::string d) {
        error = f;
        failure_name = name(f);
        failed_phase = in_phase;
        if (!diagnosis.empty() && !d.empty()) diagnosis += "; then ";
        diagnosis += d;
    }

    // The request's Accept (its first field), for the format of the edge's own answer; "" until a
    // whole head is parsed. Looked up when needed: most requests never ask.
    std::string_view accept() const noexcept;
    // The facts of a parsed request head (views into the parser's message, which outlives this).
    void take_request(request_parser const& p);
    // The method and target of a head that did not parse, as far as its first line shows (views
    // into `buf`, bounded), for the log line of the edge's 400/408/431.
    void take_request_line(request_parser const& p, boost::beast::flat_buffer const& buf);

    // The members are ordered for size (the bytes and flags last): an exchange lives in the frame of
    // every request in flight, the ones pending on a blackholed origin included.
    clock::time_point started = clock::now();
    std::shared_ptr<runtime const> rt;  // the request's config generation, kept until it ends
    ray_id ray;
    request_parser* parser = nullptr;

    // The request
    std::string_view method;
    std::string_view target;
    std::string_view host;  // lowercase, without port: a view into the request's request_target

    // The exchange
    config::origin const* o = nullptr;
    std::string_view origin;          // origin name, preview_origin, or "" (none reached)
    std::string server;               // the server address used last
    std::size_t egress = 0;           // egress index, chosen once per request
    // What was sent of the body on a pooled connection, kept (up to replay_limit) so that the
    // request can be replayed on a new connection if the pooled one turns out closed, as HAProxy's
    // retries do from their buffer. Overflowing it gives up the replay.
    static constexpr std::size_t replay_limit = 64 * 1024;
    std::string replay;
    bool replayable() const noexcept { return !body_consumed || !replay_overflow; }
    // The emulated fault of this request, decided once in forward(). On the heap: most requests
    // have none, and every request pending on its origin would otherwise hold its room.
    std::unique_ptr<fault_choice> fault;
    void take_fault(std::optional<fault_choice> f) {
        if (f) fault = std::make_unique<fault_choice>(std::move(*f));
    }
    // Its fault is emulated on a new origin connection (never a pooled one): at the connect, or at
    // the TLS handshake after a real connect.
    bool fault_needs_new_connection() const noexcept { return fault && config::needs_new_connection(fault->spec.type); }
    bool fault_at_connect() const noexcept { return fault && config::connect_phase(fault->spec.type); }

    // The outcome
    std::string_view failure_name;    // "" = no failure
    std::string_view failed_phase;
    std::string diagnosis;
    std::uint64_t bytes_sent = 0;     // to the client, heads included
    std::string_view cut;             // why the response was cut short; "" = complete
    std::int32_t connect_ms = -1;     // -1: no connect (pooled connection, or no origin)
    std::int32_t first_byte_ms = -1;  // request fully sent -> response head received
    unsigned status = 0;              // what the client got; 0 = nothing
    unsigned version = 11;            // the request's HTTP version
    failure error = failure::invalid_response;

    // The request's flags
    bool head_request = false;
    bool keep_alive = false;       // the client may send another request after this one
    bool expect_continue = false;  // an HTTP/1.1 client waits for 100 Continue before its body
    bool upgrade = false;          // asks for a protocol upgrade (WebSocket)
    bool te_trailers = false;      // accepts trailers (TE: trailers)
    bool transfer_encoded = false; // has a Transfer-Encoding field (judged in read_request())
    // The exchange's
    bool body_consumed = false;       // request body bytes were taken from the client
    bool replay_overflow = false;
    bool continue_sent = false;
    bool early_response = false;      // the origin answered before it took the whole request body
};

// The origin connection of an exchange: pooled or new, and where it goes back to.
struct origin_link {
    transport conn;
    std::string const* pool_key;      // owned by the runtime of the exchange
    bool reused = false;
    boost::beast::flat_buffer buf;    // bytes read from the origin, not yet parsed
};

} // namespace edge522
