// client_session's exchange with an origin, one step per function (see client_session.hpp).
#include "proxy/exchange.hpp"

#include "proxy/client_session.hpp"
#include "proxy/diagnosis.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/origin_connector.hpp"
#include "proxy/request_target.hpp"
#include "proxy/wire.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <limits>
#include <span>
#include <utility>

namespace edge522 {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

using ms = std::chrono::milliseconds;

long ms_since(exchange::clock::time_point t0) {
    return static_cast<long>(std::chrono::duration_cast<ms>(exchange::clock::now() - t0).count());
}

std::uint32_t limit32(std::uint64_t v) {
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, std::numeric_limits<std::uint32_t>::max()));
}

// A connection the origin closed while it sat in the pool shows as one of these before any byte.
bool stale_error(boost::system::error_code const& ec) noexcept {
    return is_end(ec) || ec == net::error::connection_reset || ec == net::error::broken_pipe ||
           ec == http::error::end_of_stream;
}

// What a connection holds unread, without taking it: some bytes, nothing yet, or its end (a FIN,
// a reset or another error). One non-blocking MSG_PEEK.
enum class pending { bytes, nothing, closed };
pending peek(transport& t) noexcept {
    char byte;
    ssize_t const n = ::recv(t.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return pending::bytes;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? pending::nothing : pending::closed;
}

// A relay buffer borrowed from the worker's free list for the exchange, returned at its end: no
// malloc per request, and nothing held by idle connections.
class relay_buffer {
public:
    explicit relay_buffer(worker& w) : w_(w) {}
    ~relay_buffer() { if (p_) w_.give_relay_buffer(std::move(p_)); }
    relay_buffer(relay_buffer const&) = delete;
    relay_buffer& operator=(relay_buffer const&) = delete;
    char* get() {
        if (!p_) p_ = w_.take_relay_buffer();
        return p_.get();
    }
private:
    worker& w_;
    std::unique_ptr<char[]> p_;
};

// One write of body bytes: [head] [chunk size] data [CRLF] [last chunk + trailers], gathered.
class framed_piece {
public:
    framed_piece(bool chunked, std::string_view data, std::string_view tail, std::string_view head) {
        if (!head.empty()) add(head);
        if (chunked && !data.empty()) add({prefix_, wire::chunk_prefix(prefix_, data.size())});
        if (!data.empty()) add(data);
        if (chunked && !data.empty()) add(wire::crlf);
        if (!tail.empty()) add(tail);
    }
    bool empty() const noexcept { return count_ == 0; }
    std::span<net::const_buffer const> buffers() const noexcept { return {bufs_.data(), count_}; }

private:
    void add(std::string_view v) { bufs_[count_++] = net::const_buffer(v.data(), v.size()); }
    char prefix_[24];
    std::array<net::const_buffer, 5> bufs_;
    std::size_t count_ = 0;
};

// The request's fault (SPEC section 5): the one its [chaos].header names, else the first of its
// origin's faults that applies. false: the header is bad (x.fail says why; the edge answers 400).
bool decide_fault(config::origin const& o, request_parser const& parser, exchange& x, std::string_view path) {
    auto const& cfg = x.cfg();
    auto& faults = fault_registry::process();
    if (!cfg.chaos.header.empty()) {
        if (auto const h = lookup_field(parser.get(), cfg.chaos.header); h.count > 0) {
            std::string error;
            auto spec = fault_from_header(h.first, error);
            if (!spec) {
                x.fail(failure::bad_request, "client_header", cfg.chaos.header + ": " + error);
                return false;
            }
            if (path.starts_with(spec->path_prefix))
                x.take_fault(decide_one(*spec, 0, fault_draw{faults.seed(cfg), faults.next_sequence()}));
            return true;
        }
    }
    if (!faults.any()) return true;  // no fault anywhere: no lock, no counter
    auto const table = faults.snapshot();
    if (auto const* list = table->of(o.name))
        x.take_fault(decide(*list, path, fault_draw{faults.seed(cfg), faults.next_sequence()}, exchange::clock::now()));
    return true;
}

} // namespace

std::string_view exchange::accept() const noexcept {
    if (!parser || !parser->is_header_done()) return {};
    return first_value(parser->get(), http::field::accept);
}

void exchange::take_request(request_parser const& p) {
    auto const& req = p.get();
    method = req.method_string();
    target = req.target();
    version = req.version();
    head_request = req.method() == http::verb::head;
    keep_alive = p.keep_alive() && cfg().timeouts.client_idle.count() > 0;
    // One pass over the fields (each req[...] is a tree search): the first Expect and TE, as
    // req[...] would give, and whether Upgrade and Transfer-Encoding fields are there at all.
    std::string_view expect, te;
    bool has_expect = false, has_te = false, has_upgrade = false;
    for (auto const& f : req) {
        switch (f.name()) {
        case http::field::expect:
            if (!std::exchange(has_expect, true)) expect = f.value();
            break;
        case http::field::te:
            if (!std::exchange(has_te, true)) te = f.value();
            break;
        case http::field::upgrade:
            has_upgrade = true;
            break;
        case http::field::transfer_encoding:
            transfer_encoded = true;
            break;
        default:
            break;
        }
    }
    expect_continue = version >= 11 && beast::iequals(expect, "100-continue");
    upgrade = has_upgrade && is_upgrade_request(req);
    for (auto const& t : http::token_list{te})
        if (beast::iequals(t, "trailers")) te_trailers = true;
}

void exchange::take_request_line(request_parser const& p, beast::flat_buffer const& buf) {
    if (!p.get().target().empty()) {  // the start line was parsed before the head failed
        method = p.get().method_string();
        target = p.get().target();
        return;
    }
    std::string_view line(static_cast<char const*>(buf.data().data()), buf.size());
    line = line.substr(0, std::min<std::size_t>(line.find_first_of("\r\n"), 8192));
    auto const sp = line.find(' ');
    if (sp == std::string_view::npos) return;
    method = line.substr(0, std::min<std::size_t>(sp, 32));
    line.remove_prefix(sp + 1);
    target = line.substr(0, line.find(' '));
}

task<bool> client_session::forward(config::origin const& o, request_parser& parser, exchange& x,
                                   request_target const& t) {
    x.o = &o;
    x.egress = worker_.next_egress(*x.rt, o);  // per request: failover keeps the request's source
    if (!decide_fault(o, parser, x, t.origin_target())) co_return co_await answer(failure::bad_request, x, false);

    // The head the origin gets is built once there is a connection for it, into wire_ (its
    // capacity reused request after request), where it stays until the response head replaces it:
    // nothing writes wire_ before that but a final answer, and no retry follows one.
    bool fresh_only = false;
    std::optional<origin_link> link;
    for (int attempt = 0;; ++attempt) {
        // Most requests find a pooled connection: taken here, without acquire()'s coroutine.
        if (!take_pooled(link, o, 0, x, fresh_only)) {
            // A field the edge's additions overflow is a 431 before any connect. A new connection
            // takes a round trip at least, or up to the connect deadline: no head is held meanwhile
            // (half a KiB of every request pending on a blackholed origin), and a 522 builds none.
            if (!forwarded_head_fits(parser, x)) co_return co_await answer(failure::header_too_large, x, false);
            std::string().swap(wire_);
            co_await acquire(link, o, x, fresh_only);
            if (!link && aborted_) co_return false;
            if (!link) co_return co_await answer(x.error, x, x.keep_alive);
        }
        if (!write_forwarded_head(o, parser, x, t)) {
            link.reset();  // a pooled connection (a new one was checked first): closed, not reused
            co_return co_await answer(failure::header_too_large, x, false);
        }
        auto const r = co_await exchange_on(*link, wire_, parser, x, attempt == 0);
        link.reset();
        if (r != round::retry) co_return r == round::keep_alive;
        fresh_only = true;  // the origin closed its idle connection: once more, on a new one
    }
}

bool client_session::write_forwarded_head(config::origin const& o, request_parser const& parser, exchange& x,
                                          request_target const& t) {
    wire_.clear();
    body_framing const framing = parser.is_done() && !parser.chunked() && !parser.content_length()
                                     ? body_framing::none
                                 : parser.chunked() ? body_framing::chunked
                                                    : body_framing::length;
    // An HTTP/1.0 request without Host still gives the origin one: the first server's, as nginx
    // sends its upstream's name.
    std::string_view const host = t.authority.empty() ? std::string_view(o.servers.front().text) : t.authority;
    forward_context const ctx{client_ip_, client_.is_tls() ? "https" : "http", x.ray, host, t.origin_target(),
                              x.cfg().chaos.header};
    if (write_origin_request(wire_, parser.get(), framing, ctx)) return true;
    fail_head_overflow(x);
    return false;
}

bool client_session::forwarded_head_fits(request_parser const& parser, exchange& x) {
    if (origin_request_fits(parser.get(), client_ip_)) return true;
    fail_head_overflow(x);
    return false;
}

void client_session::fail_head_overflow(exchange& x) {
    x.fail(failure::header_too_large, "client_header",
           "X-Forwarded-For or CDN-Loop would exceed " + std::to_string(max_field_line) +
               " bytes once the edge appends to it");
}

task<client_session::round> client_session::exchange_on(origin_link& link, std::string_view head,
                                                        request_parser& parser, exchange& x,
                                                        bool may_retry) {
    x.early_response = false;
    origin_ = &link.conn;  // drain, abort and the watchdog reach it; cleared before `link` can end
    auto const sent = co_await send_request(link, head, parser, x);
    if (sent == step::client_gone || (sent != step::ok && cut_by_drain(x))) {
        origin_ = nullptr;
        co_return round::close;
    }
    if (sent == step::failed || (sent == step::stale && may_retry)) {
        origin_ = nullptr;
        if (sent == step::stale) co_return round::retry;
        bool const more = co_await answer(x.error, x, false);
        co_return more ? round::keep_alive : round::close;
    }
    std::optional<response_parser> rp;
    auto const got = co_await read_response_head(link, rp, x);
    if (got != step::ok && cut_by_drain(x)) {
        origin_ = nullptr;
        co_return round::close;
    }
    if (got != step::ok) {
        origin_ = nullptr;
        if (got == step::stale && may_retry) co_return round::retry;
        bool const more = co_await answer(x.error, x, x.keep_alive);
        co_return more ? round::keep_alive : round::close;
    }
    bool const more = co_await relay_response(link, *rp, x);
    origin_ = nullptr;
    co_return more ? round::keep_alive : round::close;
}

namespace {

// Where a new connection to `o` comes from (the request's egress address), and the origin's
// emulated firewall.
connect_policy policy_for(config::origin const& o, exchange const& x) {
    auto const& egress = x.rt->egress[x.rt->index_of(o)];
    return {egress.empty() ? std::nullopt : std::optional(egress[x.egress]), &o.firewall_allow, o.firewall};
}

// The origin's bytes not yet parsed: room for the longest head plus one relay read.
std::size_t origin_buffer_max(exchange const& x) noexcept {
    return static_cast<std::size_t>(x.cfg().edge.max_response_header) + exchange::relay_chunk;
}

} // namespace

bool client_session::take_pooled(std::optional<origin_link>& link, config::origin const& o, std::size_t si,
                                 exchange& x, bool fresh_only) {
    // A fault of the connect or the TLS handshake is emulated on a new connection, never a pooled one.
    if (fresh_only || x.fault_needs_new_connection()) return false;
    auto const& key = x.rt->pool_key(o, si, x.egress);
    auto pooled = worker_.pool().take(key);
    if (!pooled) return false;
    x.server = o.servers[si].text;
    x.connect_ms = -1;
    link.emplace(origin_link{std::move(*pooled), &key, true, beast::flat_buffer(origin_buffer_max(x))});
    return true;
}

task<void> client_session::acquire(std::optional<origin_link>& link, config::origin const& o, exchange& x,
                                   bool fresh_only) {
    bool const emulated = x.fault_at_connect();
    if (emulated && x.fault->spec.type == config::fault_type::syn_loss)  // what the diagnosis counts
        x.fault->syns_lost = std::min(x.fault->syns_lost, syns_before(o.timeouts.connect));
    for (std::size_t si = 0;; ++si) {
        if (si > 0 && take_pooled(link, o, si, x, fresh_only)) co_return;  // forward() tried server 0's pool
        // A new connection takes a round trip at least, or up to the connect timeout: the
        // client's read buffer, empty while no body is left to read, is not held meanwhile (4 KiB
        // of every request pending on a blackholed origin).
        if (buffer_.size() == 0) buffer_.shrink_to_fit();
        ++worker_.metrics().connects_pending;
        connect_policy const policy = policy_for(o, x);
        connect_result cr;
        watchdog_deadline deadline(*this);
        if (emulated)
            co_await connect_with_fault(cr, worker_.context().get_executor(), deadline, o.servers[si], o.timeouts,
                                        x.cfg().timeouts.dns, policy, *x.fault);
        else
            co_await connect_origin(cr, worker_.context().get_executor(), deadline, o.servers[si], o.timeouts,
                                    x.cfg().timeouts.dns, policy);
        --worker_.metrics().connects_pending;
        if (!cr.stream && cut_by_drain(x)) {  // drain_timeout passed while connecting
            x.server = cr.address;
            co_return;
        }
        if (!connected(cr, o, x, emulated)) {
            // x.error says why: 521, 522, 523, 530
        } else if (auto* tctx = x.rt->tls_for(o); tctx || (x.fault_needs_new_connection() && !emulated)) {
            // TLS after the TCP handshake, under its own deadline (522 covers only TCP): 525 or 526.
            co_await secure(link, *cr.stream, tctx, o.servers[si], x.rt->pool_key(o, si, x.egress), x);
            if (link || cut_by_drain(x)) co_return;
        } else {
            link.emplace(origin_link{transport(std::move(*cr.stream)), &x.rt->pool_key(o, si, x.egress), false,
                                     beast::flat_buffer(origin_buffer_max(x))});
            co_return;
        }
        // Cloudflare's zero-downtime failover: once, to the next server, for 521/522/523/525/526.
        if (!o.failover || !info(x.error).failover || si > 0 || si + 1 >= o.servers.size()) co_return;
    }
}

bool client_session::connected(connect_result const& cr, config::origin const& o, exchange& x, bool emulated) {
    if (cr.why != failure::dns_failed || cr.stream) {
        // A connect that timed out counts as taking its deadline (the timer's lateness, a fraction of
        // a millisecond, aside): a 522 lands in its deadline's bucket, not the next one up.
        using seconds = std::chrono::duration<double>;
        bool const timed_out = !cr.stream && cr.why == failure::connect_timeout;
        worker_.metrics().observe_connect(o.name, timed_out ? seconds(o.timeouts.connect).count()
                                                            : seconds(cr.connect_time).count());
    }
    x.server = cr.address;
    x.connect_ms = static_cast<std::int32_t>(cr.connect_time.count() / 1000);
    if (cr.stream) return true;
    x.fail(cr.why, cr.why == failure::dns_failed ? "dns" : "connect",
           emulated ? x.fault->prefix() + describe_connect(cr, o.timeouts) : describe_connect(cr, o.timeouts));
    return false;
}

task<void> client_session::secure(std::optional<origin_link>& link, tcp_socket& socket,
                                  tls::origin_context* ctx, config::host_port const& server,
                                  std::string const& key, exchange& x) {
    auto const limit = x.cfg().timeouts.tls_handshake;
    std::string_view const name = ctx && !ctx->sni().empty() ? std::string_view(ctx->sni()) : std::string_view(server.host);
    if (x.fault_needs_new_connection() && !x.fault_at_connect()) {
        // tls_fail / bad_cert: the TCP handshake was real, the TLS failure is emulated.
        auto const r = tls::emulated(x.fault->spec.type);
        boost::system::error_code ec;
        socket.close(ec);
        x.fail(r.why, "tls", x.fault->prefix() + describe_tls(r, x.server, name, limit));
        co_return;
    }
    auto stream = tls::make_origin_stream(std::move(socket), *ctx, server.host, worker_.pool().session(key));
    transport conn(std::move(stream));
    origin_ = &conn;  // drain and abort reach it
    auto const r = co_await tls::handshake_origin(*conn.tls(), *ctx, limit);
    origin_ = nullptr;
    if (!r.ok) {
        conn.close();
        if (!aborted_) x.fail(r.why, "tls", describe_tls(r, x.server, name, limit));  // else cut by a drain
        co_return;
    }
    link.emplace(origin_link{std::move(conn), &key, false, beast::flat_buffer(origin_buffer_max(x))});
}

task<client_session::step> client_session::send_request(origin_link& link, std::string_view head,
                                                        request_parser& parser, exchange& x) {
    auto const& o = *x.o;
    if (x.expect_continue && !parser.is_done() && !x.continue_sent) {
        // The client waits for this before its body; the edge says it once the origin is connected.
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        x.continue_sent = true;
        if (!co_await write_client(cont, x)) co_return step::client_gone;
    }
    if (x.fault && x.fault->spec.type == config::fault_type::no_ack) {
        // Emulated: the request is never ACKed, so TCP_USER_TIMEOUT (request_ack) gives up on it;
        // with request_ack = 0 the edge's own write timer does.
        bool const user_timeout = o.timeouts.request_ack.count() > 0;
        if (!co_await hold_until(clock::now() + (user_timeout ? o.timeouts.request_ack : o.timeouts.write)))
            co_return step::failed;  // cut by a drain
        auto const f = user_timeout ? failure::request_not_acked : failure::write_timeout;
        x.fail(f, "request",
               x.fault->prefix() + describe_request_write(f, x.server, user_timeout ? make_error_code(net::error::timed_out)
                                                                                      : make_error_code(beast::error::timeout),
                                                          o.timeouts, false));
        co_return step::failed;
    }
    if (link.reused && !parser.is_done() && peek(link.conn) != pending::nothing) {
        // A body read from the client can be sent again only from the replay copy (64 KiB): make
        // sure first that the pooled connection was not closed by the origin a moment ago (a FIN
        // whose event the pool's watch has not handled yet). One syscall, only for pooled
        // connections carrying a body.
        co_return step::stale;
    }
    arm(phase::origin_write, clock::now() + o.timeouts.write);
    auto const out = net::buffer(head.data(), head.size());
    boost::system::error_code ec;
    std::size_t n = link.conn.write_now(out, ec);
    if (!ec && n < out.size()) std::tie(ec, n) = co_await write_rest(link.conn, out, n);
    disarm();
    ec = timed_out_as(ec, phase::origin_write);
    if (ec && aborted_) co_return step::failed;  // cut by a drain, not the origin's failure
    if (ec) {
        if (link.reused && x.replayable() && stale_error(ec)) co_return step::stale;
        auto const f = classify_write_error(ec);
        x.fail(f, "request", describe_request_write(f, x.server, ec, o.timeouts, false));
        co_return step::failed;
    }
    if (!x.replay.empty() && !link.reused) {
        // A retry after a stale pooled connection: what the first one was sent of the body.
        arm(phase::origin_write, clock::now() + o.timeouts.write);
        auto [rec, rn] = co_await net::async_write(link.conn, net::buffer(x.replay), use_nothrow);
        disarm();
        rec = timed_out_as(rec, phase::origin_write);
        std::string().swap(x.replay);
        if (rec && aborted_) co_return step::failed;
        if (rec) {
            auto const f = classify_write_error(rec);
            x.fail(f, "request_body", describe_request_write(f, x.server, rec, o.timeouts, true));
            co_return step::failed;
        }
    }
    if (parser.is_done()) co_return step::ok;
    co_return co_await send_body(link, parser, x);
}

task<client_session::step> client_session::send_body(origin_link& link, request_parser& parser,
                                                     exchange& x) {
    using namespace net::experimental::awaitable_operators;
    auto const& cfg = x.cfg();
    auto const& o = *x.o;
    relay_buffer chunk(worker_);
    auto const& req = parser.get();
    pump_spec const spec{phase::body, cfg.timeouts.client_header, phase::origin_write, o.timeouts.write,
                         chunk.get(), parser.chunked(), true,
                         req.field_count(), {}, nullptr,
                         &x.body_consumed, link.reused ? &x.replay : nullptr, &x.replay_overflow};
    // The body streams to the origin while the edge watches the origin for an early answer (a 413
    // or 401 sent before it read the body): that answer wins, and the upload stops.
    auto readable = [](transport& t) -> task<void> {
        co_await t.socket().async_wait(tcp::socket::wait_read, use_nothrow);
    };
    auto r = co_await (pump(client_, buffer_, parser, link.conn, spec) || readable(link.conn));
    disarm();
    if (aborted_) co_return step::failed;  // cut by a drain: neither side failed
    if (r.index() == 1) {
        x.early_response = true;
        co_return step::early_response;
    }
    auto const& pr = std::get<0>(r);
    if (pr.read_ec && peek(link.conn) == pending::bytes) {
        // The client's body ended or broke, but the origin has answered already: its answer wins.
        x.early_response = true;
        co_return step::early_response;
    }
    if (pr.read_ec) {
        auto const ec = timed_out_as(pr.read_ec, phase::body);
        if (ec == beast::error::timeout) {
            x.fail(failure::request_timeout, "client_body",
                   "request body stalled: nothing within " + config::format_duration(cfg.timeouts.client_header));
            co_return step::failed;
        }
        if (ec == net::error::connection_reset || ec == net::error::operation_aborted) co_return step::client_gone;
        // A malformed body (bad chunk framing, an absurd chunk size) or one that ended early (the
        // client half-closed): 400, and the origin connection, which saw part of it, is dropped.
        bool const early_end = ec == http::error::partial_message || ec == http::error::end_of_stream;
        x.fail(failure::bad_request, "client_body",
               early_end ? "request body ended before its declared end" : "malformed request body: " + ec.message());
        co_return step::failed;
    }
    if (pr.write_ec) {
        auto const ec = timed_out_as(pr.write_ec, phase::origin_write);
        if (stale_error(ec)) {
            // The origin closed or reset while taking the body: it may have answered first (an early
            // final response); the response head read tells.
            x.early_response = true;
            co_return step::early_response;
        }
        auto const f = classify_write_error(ec);
        x.fail(f, "request_body", describe_request_write(f, x.server, ec, o.timeouts, true));
        co_return step::failed;
    }
    co_return step::ok;
}

task<client_session::step> client_session::read_response_head(origin_link& link,
                                                              std::optional<response_parser>& rp,
                                                              exchange& x) {
    auto const& cfg = x.cfg();
    auto const& o = *x.o;
    auto const limit = static_cast<std::size_t>(cfg.edge.max_response_header);
    auto const waited_from = clock::now();  // the request is sent: from here the origin owes an answer
    if (x.fault) {
        // Emulated response faults: the origin's answer is held back, or replaced by a failure.
        auto const type = x.fault->spec.type;
        auto emulate = [&](failure f, boost::system::error_code ec) {
            x.fail(f, "response",
                   x.fault->prefix() + describe_response(f, x.server, ec, o.timeouts, cfg.edge.max_response_header,
                                                         ms_since(waited_from)));
            return step::failed;
        };
        if (type == config::fault_type::response_delay) {
            bool const times_out = x.fault->delay >= o.timeouts.read;
            if (!co_await hold_until(waited_from + (times_out ? o.timeouts.read : x.fault->delay)))
                co_return step::failed;  // cut by a drain
            if (times_out) co_return emulate(failure::read_timeout, beast::error::timeout);
        }
        if (type == config::fault_type::reset) co_return emulate(failure::connection_reset, net::error::connection_reset);
        if (type == config::fault_type::empty) co_return emulate(failure::empty_response, net::error::eof);
        if (type == config::fault_type::garbage) co_return emulate(failure::invalid_response, http::error::bad_version);
    }
    arm(phase::origin_read, waited_from + o.timeouts.read);
    head_result r;
    for (;;) {
        rp.emplace();
        rp->header_limit(limit32(cfg.edge.max_response_header));
        rp->body_limit(boost::none);
        if (x.head_request) rp->skip(true);
        r = co_await read_head(link.conn, link.buf, *rp, limit);
        // Interim responses (100, 102, 103) are dropped; a 101 is final. A status outside
        // 100-599 (RFC 9110 15: invalid; "HTTP/1.1 099" is no interim answer) ends the wait.
        auto const status = rp->get().result_int();
        if (r.status != head_status::ok || status < 100 || status >= 200 ||
            rp->get().result() == http::status::switching_protocols)
            break;
    }
    disarm();
    if (r.status != head_status::ok && aborted_) co_return step::failed;  // cut by a drain
    if (r.status != head_status::ok) {
        auto const ec = timed_out_as(r.ec, phase::origin_read);
        bool const got_bytes = r.bytes > 0;
        if (link.reused && !got_bytes && x.replayable() && (r.status == head_status::closed || stale_error(ec)))
            co_return step::stale;
        failure f = failure::invalid_response;
        switch (r.status) {
        case head_status::too_large:
        case head_status::field_too_large:
            f = failure::response_header_too_large;
            break;
        case head_status::closed:
            f = failure::empty_response;
            break;
        default:
            f = classify_response_error(ec, got_bytes);
            break;
        }
        x.fail(f, "response",
               describe_response(f, x.server, r.status == head_status::field_too_large ? http::error::header_limit
                                              : r.status == head_status::too_large && r.bytes < limit
                                                  ? http::error::bad_obs_fold  // a folded value over 4 KiB
                                                  : ec,
                                 o.timeouts, cfg.edge.max_response_header, ms_since(waited_from)));
        co_return step::failed;
    }
    if (auto const status = rp->get().result_int(); status < 100 || status > 599) {
        x.fail(failure::invalid_response, "response",
               "origin " + x.server + " sent status " + std::to_string(status) + ", outside 100-599");
        co_return step::failed;
    }
    if (failure f; has_field(rp->get(), http::field::transfer_encoding)) {
        // Only a list of known codings ending in one chunked is relayed: anything else the client
        // could frame differently than the edge does, or would get coded bytes without their coding.
        if (auto why = judge_transfer_encoding(rp->get(), f); !why.empty()) {
            x.fail(failure::invalid_response, "response",
                   "origin " + x.server + " sent an invalid Transfer-Encoding (" + why + ")");
            co_return step::failed;
        }
    }
    if (rp->get().result() == http::status::switching_protocols && !x.upgrade) {
        x.fail(failure::invalid_response, "response",
               "origin " + x.server + " switched protocols (101) though no upgrade was asked for");
        co_return step::failed;
    }
    x.first_byte_ms = static_cast<std::int32_t>(ms_since(waited_from));
    co_return step::ok;
}

task<bool> client_session::relay_response(origin_link& link, response_parser& rp, exchange& x) {
    auto const& cfg = x.cfg();
    auto const& o = *x.o;
    auto& res = rp.get();
    unsigned const code = res.result_int();
    bool const upgrade = res.result() == http::status::switching_protocols;
    bool const no_body_status = code < 200 || code == 204 || code == 304;
    bool const body_expected = !rp.is_done() && !x.head_request && !no_body_status;
    bool const delimited = rp.chunked() || rp.content_length().has_value();
    bool const client10 = x.version < 11;
    bool const request_done = x.parser->is_done();
    bool keep_alive = x.keep_alive && request_done && !worker_.draining();
    if (!request_done) linger_ = true;  // an early response: the rest of the body is drained

    // How the body reaches this client: as the origin framed it, re-chunked (a close-delimited body
    // to an HTTP/1.1 client), or delimited by our close (HTTP/1.0 clients know no chunks).
    body_framing framing = body_framing::none;
    if (no_body_status || upgrade) framing = body_framing::none;
    else if (rp.content_length()) framing = body_framing::length;
    else if (rp.chunked()) framing = client10 ? body_framing::none : body_framing::chunked;
    else if (body_expected) framing = client10 ? body_framing::none : body_framing::rechunk;
    if (body_expected && framing == body_framing::none) keep_alive = false;
    bool const trailers = x.te_trailers && framing == body_framing::chunked;

    response_context const ctx{cfg.edge.server_header, x.ray, wire::http_date_now(), framing, upgrade, keep_alive,
                               client10, trailers};
    wire_.clear();
    write_client_response(wire_, res, ctx);
    x.status = code;
    bool const origin_keep = rp.keep_alive() && (delimited || !body_expected) && !upgrade && !x.early_response;

    bool head_sent = false;
    if (upgrade || !body_expected || link.buf.size() == 0) {
        // No body, or it has not arrived yet (or never will, on a 101): the head goes out alone
        // now, so a slow or streaming origin does not hold it back.
        if (!co_await write_client(wire_, x)) co_return false;
        head_sent = true;
        if (upgrade) {
            co_await tunnel(link, x);
            co_return false;
        }
    }
    if (body_expected) {
        relay_buffer chunk(worker_);
        pump_spec const spec{phase::origin_read, o.timeouts.read, phase::write, cfg.timeouts.write, chunk.get(),
                             framing == body_framing::chunked || framing == body_framing::rechunk, trailers,
                             res.field_count(),
                             head_sent ? std::string_view{} : std::string_view(wire_), &x.bytes_sent, nullptr,
                             nullptr, nullptr};
        auto const sent_before = x.bytes_sent;
        pump_result pr;
        if (!head_sent && framing == body_framing::length && body_buffered(rp, link.buf, exchange::relay_chunk)) {
            // The common small response: its whole body came with its head. Head and body leave in
            // one write, without the relay loop's coroutines (pump, read_body_some).
            std::size_t const n = take_buffered_body(link.buf, rp, chunk.get(), exchange::relay_chunk, pr.read_ec);
            if (!pr.read_ec) {
                std::array<net::const_buffer, 2> const pieces{net::buffer(wire_), net::buffer(chunk.get(), n)};
                std::span<net::const_buffer const> const out(pieces);
                arm(phase::write, clock::now() + cfg.timeouts.write);
                std::size_t wn = client_.write_now(out, pr.write_ec);
                if (!pr.write_ec && wn < wire_.size() + n) std::tie(pr.write_ec, wn) = co_await write_rest(client_, out, wn);
                disarm();
                x.bytes_sent += wn;
            }
        } else {
            pr = co_await pump(link.conn, link.buf, rp, client_, spec);
        }
        if (pr.read_ec && cut_by_drain(x)) co_return false;  // the drain's cut, not the origin's failure
        if (pr.read_ec) {
            auto const ec = timed_out_as(pr.read_ec, phase::origin_read);
            auto const f = classify_response_error(ec, true);
            x.fail(f, "response_body", "origin " + x.server + " failed mid-body (" + errno_name(ec) + ")");
            // The head waited for the body's first bytes, and those were already broken (a bad
            // first chunk): nothing of the response reached the client, which gets the edge's
            // answer, and keeps its connection as after any other 520.
            if (!head_sent && x.bytes_sent == sent_before)
                co_return co_await answer(f, x, x.keep_alive && request_done);
            // Else the head is gone: the only honest signal left is to cut the client connection
            // (no terminating chunk).
            x.cut = "origin_failed";
            co_return false;
        }
        if (pr.write_ec) {
            x.cut = cut_reason(timed_out_as(pr.write_ec, phase::write));
            co_return false;  // the client went away (or stopped reading): drop both sides
        }
    }
    if (origin_keep && link.buf.size() == 0 && rp.is_done() && !worker_.draining())
        worker_.pool().put(*link.pool_key, std::move(link.conn), o.timeouts.origin_idle);
    co_return keep_alive;
}

template <class Parser>
task<client_session::pump_result> client_session::pump(transport& from, beast::flat_buffer& from_buf,
                                                       Parser& parser, transport& to,
                                                       pump_spec const& spec) {
    // Beast sizes each read by the buffer's free capacity: give a body that is still to come room
    // for big reads (none when the body is already here: no body, or all of it buffered).
    auto const remaining = parser.content_length_remaining();
    bool const buffered = parser.is_done() || (remaining && *remaining <= from_buf.size());
    if (!buffered && from_buf.capacity() - from_buf.size() < exchange::relay_chunk / 2 &&
        from_buf.max_size() - from_buf.size() >= exchange::relay_chunk)
        from_buf.reserve(from_buf.size() + exchange::relay_chunk);
    pump_result r;
    auto& body = parser.get().body();
    std::string_view head = spec.head;
    std::string tail;
    for (bool done = parser.is_done(); !done;) {
        body.data = spec.chunk;
        body.size = exchange::relay_chunk;
        arm(spec.read_phase, clock::now() + spec.read_timeout);
        auto rec = co_await read_body_some(from, from_buf, parser);
        disarm();
        if (rec) {
            r.read_ec = rec;
            co_return r;
        }
        std::size_t const n = exchange::relay_chunk - body.size;
        if (n > 0 && spec.consumed) *spec.consumed = true;
        done = parser.is_done();
        std::string_view end;
        if (done && spec.chunked_out) {
            tail.assign("0\r\n");
            if (spec.trailers) write_trailers(tail, parser.get(), spec.head_fields);
            else tail.append("\r\n");
            end = tail;
        }
        framed_piece piece(spec.chunked_out, std::string_view(spec.chunk, n), end, head);
        if (piece.empty()) continue;  // e.g. only a chunk header arrived
        if (spec.replay && !*spec.replay_overflow) {
            auto const bytes = net::buffer_size(piece.buffers());
            if (spec.replay->size() + bytes > exchange::replay_limit) {
                *spec.replay_overflow = true;
                std::string().swap(*spec.replay);
            } else {
                for (auto const& b : piece.buffers()) spec.replay->append(static_cast<char const*>(b.data()), b.size());
            }
        }
        arm(spec.write_phase, clock::now() + spec.write_timeout);
        auto const out = piece.buffers();
        boost::system::error_code wec;
        std::size_t wn = to.write_now(out, wec);
        if (!wec && wn < net::buffer_size(out)) std::tie(wec, wn) = co_await write_rest(to, out, wn);
        disarm();
        if (spec.sent) *spec.sent += wn;
        if (wec) {
            r.write_ec = wec;
            co_return r;
        }
        head = {};
    }
    if (!head.empty()) {
        arm(spec.write_phase, clock::now() + spec.write_timeout);
        auto const out = net::buffer(head.data(), head.size());
        boost::system::error_code wec;
        std::size_t wn = to.write_now(out, wec);
        if (!wec && wn < out.size()) std::tie(wec, wn) = co_await write_rest(to, out, wn);
        disarm();
        if (spec.sent) *spec.sent += wn;
        r.write_ec = wec;
    }
    co_return r;
}

task<void> client_session::tunnel(origin_link& link, exchange& x) {
    using namespace net::experimental::awaitable_operators;
    auto const idle = x.cfg().timeouts.tunnel_idle;
    origin_ = &link.conn;
    if (worker_.draining()) co_return;
    // Bytes already read past the heads belong to the other side.
    if (link.buf.size() > 0) {
        auto [ec, n] = co_await net::async_write(client_, link.buf.data(), use_nothrow);
        x.bytes_sent += n;
        if (ec) co_return;
    }
    if (buffer_.size() > 0) {
        auto [ec, n] = co_await net::async_write(link.conn, buffer_.data(), use_nothrow);
        if (ec) co_return;
        buffer_.consume(buffer_.size());
    }
    bool ended = false;
    auto touch = [this, idle] {
        if (idle.count() > 0) arm(phase::tunnel, clock::now() + idle);
    };
    // One direction: bytes until EOF, which becomes a FIN toward the other side (half-close); an
    // error (or the idle timeout, or drain) ends both directions. With TLS at either end, an EOF
    // ends both directions too, as nginx ends an upgraded connection: a TLS half-close would need a
    // close_notify written while the other direction reads the same stream, which Asio's ssl::stream
    // cannot do; the TLS peer gets its close_notify once the tunnel is over.
    bool const half_close = !client_.is_tls() && !link.conn.is_tls();
    auto one_way = [&](transport& from, transport& to, std::uint64_t* counted) -> task<void> {
        std::unique_ptr<char[]> buf(new char[16 * 1024]);
        for (;;) {
            auto [rec, n] = co_await from.async_read_some(net::buffer(buf.get(), 16 * 1024), use_nothrow);
            if (is_end(rec) && !ended && half_close) {
                to.shutdown_send();
                co_return;
            }
            if (rec || ended) break;
            touch();
            auto [wec, wn] = co_await net::async_write(to, net::buffer(buf.get(), n), use_nothrow);
            if (counted) *counted += wn;
            if (wec || ended) break;
            touch();
        }
        ended = true;
        from.cancel();
        to.cancel();
    };
    touch();
    co_await (one_way(client_, link.conn, nullptr) && one_way(link.conn, client_, &x.bytes_sent));
    bool const idle_cut = std::exchange(expired_, phase::none) == phase::tunnel;
    disarm();
    if (link.conn.is_tls() && !aborted_) {
        // The origin's close_notify (bounded: Asio's shutdown also waits for the origin's).
        arm(phase::origin_read, clock::now() + std::chrono::milliseconds(500));
        co_await link.conn.tls()->async_shutdown(use_nothrow);
        disarm();
    }
    origin_ = nullptr;
    if (aborted_) x.cut = "drain";
    else if (idle_cut) x.cut = "tunnel_idle";
}

template task<client_session::pump_result> client_session::pump(transport&, beast::flat_buffer&,
                                                                          request_parser&, transport&,
                                                                          pump_spec const&);
template task<client_session::pump_result> client_session::pump(transport&, beast::flat_buffer&,
                                                                          response_parser&, transport&,
                                                                          pump_spec const&);

} // namespace edge522
