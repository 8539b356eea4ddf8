#include "proxy/client_session.hpp"

#include "proxy/access_log.hpp"
#include "proxy/address_text.hpp"
#include "proxy/diagnosis.hpp"
#include "proxy/error_page.hpp"
#include "proxy/exchange.hpp"
#include "proxy/request_target.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <spdlog/spdlog.h>

#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <limits>
#include <utility>

namespace edge522 {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

std::uint32_t limit32(std::uint64_t v) {
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, std::numeric_limits<std::uint32_t>::max()));
}

// Lingering close (RFC 9112 9.6): how long and how much of an unread request body is drained
// after the answer, so that the client reads the answer instead of a reset.
constexpr auto linger_total = std::chrono::seconds(5);
constexpr auto linger_quiet = std::chrono::seconds(2);
constexpr std::uint64_t linger_bytes = 16 * 1024 * 1024;

// A plain connection whose last request came within this of the answer before it is busy: it waits
// for the next one in its coroutine (wait_in_place()) instead of parking at once.
constexpr auto busy_gap = std::chrono::milliseconds(100);

// Waits until the socket is readable, then receives without blocking (flags: e.g. MSG_PEEK) into
// the buffer that `into()` gives (a net::mutable_buffer), asked for only once bytes are there: an
// idle connection holds no buffer, which is what it saves. A readiness report is a hint, not a
// promise (Asio's reactor can wake a wait with nothing to read): on EAGAIN it waits again.
// n == 0 with no error: the peer closed (EOF).
template <class BufferSource>
task<std::tuple<boost::system::error_code, std::size_t>> wait_and_recv(tcp_socket& s, BufferSource into,
                                                                       int flags = 0) {
    for (;;) {
        auto [ec] = co_await s.async_wait(tcp::socket::wait_read, use_nothrow);
        if (ec) co_return std::tuple{ec, std::size_t{0}};
        net::mutable_buffer const b = into();
        ssize_t const n = ::recv(s.native_handle(), b.data(), b.size(), flags | MSG_DONTWAIT);
        if (n >= 0) co_return std::tuple{boost::system::error_code{}, static_cast<std::size_t>(n)};
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        co_return std::tuple{boost::system::error_code(errno, boost::system::system_category()), std::size_t{0}};
    }
}

} // namespace

client_session::client_session(worker& w, tcp_socket socket, tcp::endpoint const& peer, bool tls)
    : worker_(w), client_(std::move(socket)),
      buffer_(static_cast<std::size_t>(w.current()->cfg->edge.max_request_header) + exchange::relay_chunk),
      timer_(w.context().get_executor()), accepted_at_(clock::now()) {
    // The peer's address (IPv4-mapped IPv6 shown as IPv4) for access rules, and as text for logs,
    // pages and X-Forwarded-For; "-" when there is none. TCP_NODELAY came with the socket from the
    // listener (server.cpp).
    if (peer.address().is_unspecified()) {
        client_ip_ = "-";
    } else {
        client_addr_ = unmapped(peer.address());
        append_address(client_ip_, client_addr_);
    }
    tls_ = tls;
    worker_.add_session(*this);
    worker_.open_connections_.fetch_add(1, std::memory_order_relaxed);
}

client_session::~client_session() {
    worker_.remove_session(*this);
    worker_.open_connections_.fetch_sub(1, std::memory_order_relaxed);
}

void client_session::start() {
    watch();
    spawn(true);
}

void client_session::spawn(bool first) {
    // Nothing on the data path throws; should something still escape, the session ends with a
    // log line (the process and the other sessions carry on).
    auto on_done = [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (std::exception const& ex) {
            spdlog::error("client session ended by exception: {}", ex.what());
        } catch (...) {
            spdlog::error("client session ended by an unknown exception");
        }
    };
    net::co_spawn(client_.get_executor(), run(shared_from_this(), first), on_done);
}

void client_session::drain() {
    // Only what waits for a request closes now; an exchange in flight, a tunnel too, has until
    // drain_timeout (abort()).
    if (idle_) {
        client_.cancel();
        if (origin_) origin_->cancel();
    }
}

void client_session::abort() {
    aborted_ = true;
    client_.cancel();
    if (origin_) origin_->cancel();
    if (waiting_) waiting_->cut();
}

boost::system::error_code client_session::timed_out_as(boost::system::error_code ec, phase p) noexcept {
    if (ec == net::error::operation_aborted && expired_ == p) {
        expired_ = phase::none;
        return beast::error::timeout;
    }
    return ec;
}

bool client_session::cut_by_drain(exchange& x) const noexcept {
    if (!aborted_) return false;
    x.cut = "drain";
    return true;
}

void client_session::arm(phase p, clock::time_point deadline) {
    phase_ = p;
    expired_ = phase::none;
    deadline_ = deadline;
    // The watchdog sleeps until wake_at_; wake it only when the new deadline is earlier. It never
    // sleeps longer than the shortest phase timeout, so a phase that follows another (idle, then
    // the head; the origin's answer, then the write to the client) finds it due soon enough and
    // leaves it asleep: no cancel and re-arm per request.
    if (deadline < wake_at_) timer_.cancel();
}

void client_session::watchdog_deadline::start(tcp_socket& socket, clock::time_point at) noexcept {
    socket_ = &socket;
    s_.waiting_ = this;
    s_.arm(phase::connect, at);
}

void client_session::watchdog_deadline::start(worker_timer& timer) noexcept {
    timer_ = &timer;  // the timer ends the wait: no phase to arm
    s_.waiting_ = this;
}

bool client_session::watchdog_deadline::stop() noexcept {
    s_.waiting_ = nullptr;
    timer_ = nullptr;
    if (!std::exchange(socket_, nullptr)) return false;
    bool const expired = s_.expired_ == phase::connect;
    s_.disarm();
    s_.expired_ = phase::none;
    return expired;
}

void client_session::watchdog_deadline::cut() noexcept {
    boost::system::error_code ec;
    if (socket_) socket_->cancel(ec);
    if (timer_) timer_->cancel();
}

task<bool> client_session::hold_until(clock::time_point t) {
    watchdog_deadline guard(*this);
    co_return co_await edge522::hold_until(worker_.context().get_executor(), guard, t);
}

void client_session::watch() {
    // A plain completion handler, not a coroutine: an idle connection keeps no frame for it.
    // At most watchdog_step ahead: a long phase (a slow origin, a busy connection's wait) costs a
    // wake per step (10 s with the defaults), and any phase armed later is due after wake_at_
    // (arm()). A parked connection sleeps until its deadline: its next request re-arms it once.
    wake_at_ = parked_ ? deadline_ : std::min(deadline_, clock::now() + worker_.current()->watchdog_step);
    timer_.expires_at(wake_at_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code) { self->on_watch(); });
}

void client_session::on_watch() {
    if (closed_) return;  // the session ends: the handler's reference is the last but run()'s
    if (clock::now() >= deadline_) {  // else re-armed earlier, or woken early
        if (phase_ != phase::none) {
            expired_ = phase_;
            switch (phase_) {
            case phase::origin_read:
            case phase::origin_write:
                if (origin_) origin_->cancel();
                break;
            case phase::connect:
                if (waiting_) waiting_->cut();
                break;
            case phase::tunnel:
                client_.cancel();
                if (origin_) origin_->cancel();
                break;
            default:
                client_.cancel();
                break;
            }
        }
        phase_ = phase::none;
        deadline_ = clock::time_point::max();
    }
    watch();
}

task<void> client_session::run(std::shared_ptr<client_session> /*self: keeps the session alive*/,
                               bool first_request) {
    if (first_request && tls_ && !client_.is_tls() && !co_await start_tls()) {
        if (linger_) co_await linger();
        close_now();
        co_return;
    }
    // A local, not the parameter: GCC 12 miscompiled this coroutine when the loop assigned to its
    // by-value parameter (a jump to garbage on the first resumption).
    for (bool first = first_request;; first = false) {
        if (buffer_.size() == 0) {
            if (!begin_idle(first)) break;
            if (!client_.is_tls()) {
                if (!busy_) {
                    park(first);  // this coroutine ends; on_readable() starts the next one
                    co_return;
                }
                auto const end = co_await wait_in_place();
                if (end == idle_end::closed) break;
                if (end == idle_end::park) {
                    park(first);  // this coroutine ends; on_readable() starts the next one
                    co_return;
                }
            } else if (!co_await wait_for_request()) {
                break;
            }
        }
        if (!co_await serve(first) || worker_.draining() || linger_) break;
    }

    if (linger_) co_await linger();
    co_await close_client();
}

bool client_session::begin_idle(bool first) {
    auto const& cfg = *worker_.current()->cfg;
    if (!first && cfg.timeouts.client_idle.count() == 0) return false;
    if (worker_.draining()) return false;
    idle_since_ = clock::now();
    arm(first ? phase::head : phase::idle,
        first ? accepted_at_ + cfg.timeouts.client_header : idle_since_ + cfg.timeouts.client_idle);
    // No request state is held between requests (serve()'s frame is freed). The read buffer's
    // memory is kept for the next request of a busy plain connection, and released when it parks.
    buffer_.clear();
    if (!busy_ || client_.is_tls()) buffer_.shrink_to_fit();
    if (wire_.capacity() > 1024) std::string().swap(wire_);
    idle_ = true;
    return true;
}

task<client_session::idle_end> client_session::wait_in_place() {
    // A read, not a readiness wait and a recv of ours: the buffer is held anyway by a busy
    // connection, and a request that arrives is read as epoll reports it (3 % fewer instructions
    // per request). Where the last request's read found the socket drained, this one waits for
    // epoll without a recv first (drained_read.hpp); a readiness wait would re-arm epoll
    // (epoll_ctl). A busy connection's reads say so from its second wait on.
    if (!drain_hint_) {
        drain_hint_ = true;
        client_.enable_drain_hint();
    }
    waiting_in_place_ = true;
    auto [ec, n] = co_await client_.async_read_some(buffer_.prepare(head_chunk), use_nothrow);
    waiting_in_place_ = false;
    // Taken at every wake: a sweep's request is void once a request came.
    bool const park = std::exchange(park_requested_, false);
    if (n > 0) {
        buffer_.commit(n);
        idle_ = false;
        busy_ = clock::now() - idle_since_ < busy_gap;  // a busy connection has served a request before
        co_return idle_end::request;
    }
    // The sweep's cancel parks, unless the idle timeout, a drain or an abort came too; EOF or an
    // error closes.
    bool const parked = park && ec == net::error::operation_aborted && expired_ == phase::none &&
                        !worker_.draining() && !aborted_;
    co_return parked ? idle_end::park : idle_end::closed;
}

client_session::woke client_session::receive_after_wake(bool first) {
    auto const b = buffer_.prepare(head_chunk);
    ssize_t const n = ::recv(client_.socket().native_handle(), b.data(), b.size(), MSG_DONTWAIT);
    if (n > 0) {
        buffer_.commit(static_cast<std::size_t>(n));
        idle_ = false;
        busy_ = !first && clock::now() - idle_since_ < busy_gap;
        return woke::request;
    }
    // A readiness report is a hint, not a promise: nothing there yet means wait again.
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return woke::nothing;
    return woke::closed;  // the peer closed (or failed)
}

void client_session::park_if_waiting() {
    if (!waiting_in_place_ || park_requested_) return;
    park_requested_ = true;
    client_.cancel();
}

void client_session::park(bool first) {
    // A parked connection holds no read buffer, and no room for the next forwarded head.
    buffer_.clear();
    buffer_.shrink_to_fit();
    std::string().swap(wire_);
    parked_ = true;
    client_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this(), first](boost::system::error_code ec) {
        self->on_readable(ec, first);
    });
}

void client_session::on_readable(boost::system::error_code ec, bool first) {
    parked_ = false;
    if (!ec) {
        switch (receive_after_wake(first)) {
        case woke::request:
            spawn(first);
            return;
        case woke::nothing:
            park(first);
            return;
        case woke::closed:
            break;
        }
    }
    // The peer closed (or failed), the idle timeout or a drain: close quietly.
    idle_ = false;
    close_now();
}

task<bool> client_session::wait_for_request() {
    auto [ec, n] = co_await client_.async_read_some(buffer_.prepare(head_chunk), use_nothrow);
    buffer_.commit(n);
    idle_ = false;
    co_return !ec;  // else the peer closed, the idle timeout or a drain: close quietly
}

task<bool> client_session::serve(bool first) {
    // The exchange keeps the request's config generation (worker_.current()) until it ends.
    exchange x(worker_.current(), worker_.rays().next(worker_.current()->cfg->edge.colo));
    if (!first) arm(phase::head, x.started + x.cfg().timeouts.client_header);  // x.started: now
    request_parser parser;
    parser.header_limit(limit32(x.cfg().edge.max_request_header));
    parser.body_limit(boost::none);  // bodies stream; nothing is buffered whole
    x.parser = &parser;
    bool more = false;
    request_target t;  // an out-parameter: a returned one would be held twice in this frame
    if (co_await read_request(x, parser, t)) {
        failure own = failure::not_found;
        if (auto const* o = route(x, t, own)) more = co_await forward(*o, parser, x, t);
        else more = co_await answer(own, x, x.keep_alive);
    }
    finish(x);
    co_return more;
}

task<bool> client_session::start_tls() {
    auto const rt = worker_.current();
    if (!rt->server_tls) co_return false;  // cannot happen: HTTPS listeners exist only with certificates
    arm(phase::handshake, accepted_at_ + rt->cfg->timeouts.client_header);
    // The first byte decides: a TLS record (0x16), or a plain HTTP request on the wrong port.
    unsigned char first = 0;
    idle_ = true;  // a drain closes a connection that has not asked anything yet
    auto [wec, n] = co_await wait_and_recv(client_.socket(), [&first] { return net::buffer(&first, 1); }, MSG_PEEK);
    idle_ = false;
    if (wec || n != 1) {
        disarm();
        co_return false;
    }
    if (!tls::starts_tls(first)) {
        disarm();
        co_await answer_plain_http();
        co_return false;
    }
    auto stream = std::make_unique<transport::tls_stream>(std::move(client_.socket()), rt->server_tls->context());
    stream->owner = rt->server_tls;  // the certificates (and the SNI callback) its handshake uses
    client_ = transport(std::move(stream));
    auto [ec] = co_await client_.tls()->async_handshake(net::ssl::stream_base::server, use_nothrow);
    disarm();
    if (ec) {
        // As nginx: no answer (there is no channel to give one on), a line in the edge's own log.
        ec = timed_out_as(ec, phase::handshake);
        spdlog::debug("TLS handshake with client {} failed: {}", client_ip_,
                      ec == beast::error::timeout ? std::string("not complete within client_header")
                      : aborted_                  ? std::string("cut by the drain (drain_timeout)")
                                                  : ec.message());
        ERR_clear_error();
        co_return false;
    }
    co_return true;
}

task<void> client_session::answer_plain_http() {
    exchange x(worker_.current(), worker_.rays().next(worker_.current()->cfg->edge.colo));
    x.method = "-";
    x.fail(failure::bad_request, "tls", "plain HTTP request sent to the HTTPS port");
    wire_.clear();
    x.rt->pages.write_plain_http_on_tls(wire_, x.ray);
    x.status = 400;
    co_await write_client(wire_, x);
    finish(x);
    linger_ = true;  // what the client sent is read and dropped, so it reads the answer
}

task<void> client_session::close_client() {
    if (client_.is_tls() && !aborted_) {
        // close_notify, so that the client can tell the end from a truncation (OpenSSL 3 clients
        // report an EOF without it as an error). Asio's shutdown then waits for the client's own
        // close_notify or EOF: bounded.
        arm(phase::linger, clock::now() + std::chrono::milliseconds(500));
        co_await client_.tls()->async_shutdown(use_nothrow);
        disarm();
        ERR_clear_error();
    }
    close_now();
}

void client_session::close_now() noexcept {
    closed_ = true;
    timer_.cancel();
    client_.shutdown_send();
    client_.close();
}

task<bool> client_session::read_request(exchange& x, request_parser& parser, request_target& t) {
    auto const limit = static_cast<std::size_t>(x.cfg().edge.max_request_header);
    head_result r;
    if (!read_buffered_head(buffer_, parser, limit, r)) r = co_await read_head(client_, buffer_, parser, limit, r);
    disarm();
    failure f = failure::bad_request;
    auto const v = judge_request(r, x, parser, t, f);
    if (v == verdict::answer) co_await answer(f, x, false);
    co_return v == verdict::serve;
}

client_session::verdict client_session::judge_request(head_result const& r, exchange& x, request_parser& parser,
                                                       request_target& t, failure& f) {
    auto const& cfg = x.cfg();
    if (r.status != head_status::ok) {
        x.take_request_line(parser, buffer_);  // for the log line: what the client appeared to ask
        if (r.status == head_status::too_large || r.status == head_status::field_too_large) {
            f = failure::header_too_large;
            x.fail(f, "client_header",
                   r.status == head_status::field_too_large
                       ? "a request header line over " + std::to_string(max_field_line) + " bytes"
                       : r.bytes < cfg.edge.max_request_header
                           ? std::string("a folded (obs-fold) request header value over 4 KiB")
                           : "request head over " + std::to_string(cfg.edge.max_request_header) + " bytes");
            return verdict::answer;
        }
        if (r.status == head_status::error && r.bytes > 0 &&
            timed_out_as(r.ec, phase::head) == beast::error::timeout) {
            // Some bytes arrived but not a whole head in time: 408, as nginx and Cloudflare do.
            f = failure::request_timeout;
            x.fail(f, "client_header",
                   "request head not complete within " + config::format_duration(cfg.timeouts.client_header));
            return verdict::answer;
        }
        if (r.status == head_status::closed || r.ec == http::error::partial_message ||
            r.ec == net::error::operation_aborted || r.ec == net::error::connection_reset) {
            // The client went away (or the drain ended): nothing to answer. Part of a head came:
            // the log line says why it goes no further.
            if (r.bytes > 0) x.cut = aborted_ ? "drain" : "client_closed";
            return verdict::close;
        }
        f = failure::bad_request;
        x.fail(f, "client_header", "malformed request: " + r.ec.message());
        return verdict::answer;
    }

    auto const& req = parser.get();
    x.take_request(parser);
    if (x.transfer_encoded && req.version() < 11) {
        // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing (a smuggling vector).
        f = failure::bad_request;
        x.fail(f, "client_header", "Transfer-Encoding in an HTTP/1.0 request");
        return verdict::answer;
    }
    if (x.transfer_encoded) {
        // RFC 9112 6.1: a transfer-coding we do not understand (chunked must come last, once).
        if (auto why = judge_transfer_encoding(req, f); !why.empty() || !parser.chunked()) {
            if (why.empty()) {
                f = failure::not_implemented;
                why = "unsupported Transfer-Encoding";
            }
            x.fail(f, "client_header", std::move(why));
            return verdict::answer;
        }
    }
    std::string why;
    t = resolve_target(req, static_cast<std::size_t>(cfg.edge.max_url), why);
    x.host = t.host;
    if (!t.ok()) {
        f = t.error;
        x.fail(f, "client_header", std::move(why));
        return verdict::answer;
    }
    return verdict::serve;
}

config::origin const* client_session::route(exchange& x, request_target const& t, failure& answer) {
    auto const& rt = *x.rt;
    auto const* o = rt.routes.route(x.host);
    if (o) x.origin = o->name;
    auto const& rules = rt.access_for(o);
    constexpr std::string_view test_prefix = "/cdn-cgi/error/";
    if (auto d = rules.check(client_addr_); !d.allowed) {
        // Cloudflare's IP Access Rules: decided before any origin is contacted.
        x.fail(failure::access_denied, "access", describe_access_denied(client_ip_, d.rule->text, o && o->access ? o->name : ""));
        answer = failure::access_denied;
        return nullptr;
    }
    if (t.origin_target().starts_with(test_prefix)) {
        // Cloudflare's own test URL: the page of that code, no origin touched. Counted apart, so
        // previews never trip a 522 alert.
        x.origin = exchange::preview_origin;
        std::string_view code_text = t.origin_target().substr(test_prefix.size());
        code_text = code_text.substr(0, code_text.find_first_of("?#/"));
        unsigned code = 0;
        auto [p, perr] = std::from_chars(code_text.data(), code_text.data() + code_text.size(), code);
        std::optional<failure> f;
        if (perr == std::errc{} && p == code_text.data() + code_text.size()) f = failure_for_code(code);
        answer = f.value_or(failure::not_found);
        return nullptr;
    }
    if (!o) {
        x.fail(failure::no_origin_for_host, "route", describe_no_route(x.host));
        answer = failure::no_origin_for_host;
    }
    return o;
}

task<bool> client_session::answer(failure f, exchange& x, bool keep_alive) {
    auto const& cfg = x.cfg();
    if (x.parser && x.parser->is_header_done() && !x.parser->is_done()) {
        // The client's body is still coming: answer, then drain it (lingering close).
        keep_alive = false;
        linger_ = true;
    }
    keep_alive = keep_alive && !worker_.draining();
    wire_.clear();
    x.rt->pages.write(wire_,
                      page_request{f, x.host, x.ray, client_ip_, x.failure_name.empty() ? std::string_view{} : x.diagnosis,
                                   std::chrono::system_clock::now()},
                      negotiate(x.accept()), keep_alive, x.version < 11, x.head_request);
    x.status = info(f).status;
    (void)cfg;
    bool const ok = co_await write_client(wire_, x);
    co_return ok && keep_alive;
}

task<bool> client_session::write_client(std::string_view bytes, exchange& x) {
    arm(phase::write, clock::now() + x.cfg().timeouts.write);
    auto const out = net::buffer(bytes.data(), bytes.size());
    boost::system::error_code ec;
    std::size_t n = client_.write_now(out, ec);
    if (!ec && n < out.size()) std::tie(ec, n) = co_await write_rest(client_, out, n);
    disarm();
    x.bytes_sent += n;
    if (ec) {
        x.cut = cut_reason(timed_out_as(ec, phase::write));
        co_return false;
    }
    co_return true;
}

std::string_view client_session::cut_reason(boost::system::error_code const& ec) const noexcept {
    if (aborted_) return "drain";
    if (ec == beast::error::timeout) return "write_timeout";
    return "client_closed";
}

task<void> client_session::linger() {
    // Half-close: the client sees the whole answer and a FIN; what it still sends is read and
    // dropped so that its kernel does not answer our close with a reset that destroys the answer.
    // (Over TLS the end is the close_notify of close_client(), after the drain.)
    if (!client_.is_tls()) client_.shutdown_send();
    buffer_.consume(buffer_.size());
    thread_local char sink[16 * 1024];  // contents never read: shared by the thread's sessions
    auto const end = clock::now() + linger_total;
    std::uint64_t total = 0;
    while (total < linger_bytes && !worker_.draining()) {
        auto const now = clock::now();
        if (now >= end) break;
        arm(phase::linger, std::min(end, now + linger_quiet));
        auto [ec, n] = co_await client_.async_read_some(net::buffer(sink), use_nothrow);
        disarm();
        if (ec) break;
        total += n;
    }
}

void client_session::finish(exchange& x) {
    if (x.status == 0 && x.method.empty()) return;  // nothing asked, nothing answered
    if (x.status != 0) worker_.metrics().count_request(x.origin, x.status);
    std::string fault_id;
    if (x.fault) {
        worker_.metrics().count_fault(x.origin, config::name(x.fault->spec.type));
        fault_id = x.fault->id_text();
    }
    bool const failed = !x.failure_name.empty();
    access_entry e;
    e.client = client_ip_;
    e.host = x.host;
    e.method = x.method;
    e.target = x.target;
    e.status = x.status;
    e.origin = x.origin;
    e.server = x.server;
    e.connect_ms = x.connect_ms;
    e.first_byte_ms = x.first_byte_ms;
    e.total_ms = x.elapsed_ms();
    e.ray_id = x.ray;
    e.failure = x.failure_name;
    e.phase = failed ? x.failed_phase : std::string_view{};
    e.detail = failed ? std::string_view(x.diagnosis) : std::string_view{};
    e.bytes_sent = x.bytes_sent;
    e.cut = x.cut;
    e.fault = x.fault ? config::name(x.fault->spec.type) : std::string_view{};
    e.fault_id = fault_id;
    e.http_version = x.version;
    log_access(e);
}

} // namespace edge522
