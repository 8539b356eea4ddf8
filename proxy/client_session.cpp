#include "proxy/client_session.hpp"

#include "proxy/access_log.hpp"
#include "proxy/error_page.hpp"
#include "proxy/forward_headers.hpp"
#include "proxy/origin_connector.hpp"
#include "proxy/wire.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <span>
#include <limits>

namespace edge522 {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using ms = std::chrono::milliseconds;
constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

namespace {

// Body bytes move through one bounded buffer per direction, allocated only while a body moves.
constexpr std::size_t relay_chunk = worker::relay_buffer_size;

long ms_since(client_session::clock::time_point t0) {
    return static_cast<long>(
        std::chrono::duration_cast<ms>(client_session::clock::now() - t0).count());
}

std::string client_address(tcp::socket const& s) {
    boost::system::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return "-";
    auto a = ep.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).to_string();
    return a.to_string();
}

std::string describe_connect_failure(connect_result const& cr, config::origin_timeouts const& t) {
    std::string const ms = std::to_string(cr.connect_time.count() / 1000);
    std::string const from = cr.source.empty() ? std::string{} : " from " + cr.source;
    std::string d;
    switch (cr.why) {
    case failure::dns_failed:
        d = "resolving " + cr.address + " failed after " + std::to_string(cr.dns_time.count()) + " ms";
        break;
    case failure::connect_timeout:
        d = "TCP handshake" + from + " with " + cr.address + " not completed within " +
            config::format_duration(t.connect) + " (no SYN-ACK; waited " + ms + " ms)";
        if (cr.firewalled) d += "; the emulated origin firewall drops " + cr.source + " (not in firewall_allow)";
        break;
    case failure::connect_refused:
        d = "connect" + from + " to " + cr.address + " refused after " + ms + " ms";
        d += cr.firewalled ? " by the emulated origin firewall (" + cr.source + " not in firewall_allow, "
                             "firewall_action = \"reject\")"
                           : " (RST: nothing listening, or a firewall REJECT)";
        break;
    case failure::unreachable:
        d = "no route" + from + " to " + cr.address + " after " + ms + " ms";
        break;
    default:
        d = "connect" + from + " to " + cr.address + " failed after " + ms + " ms";
        break;
    }
    d += " (" + errno_name(cr.ec) + ")";
    return d;
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

// One write of body bytes: [head] [chunk size] data [CRLF] [last chunk], as one gather write.
class framed_piece {
public:
    framed_piece(bool chunked, std::string_view data, bool last, std::string_view head = {}) {
        if (!head.empty()) add(head);
        if (chunked && !data.empty()) add({prefix_, wire::chunk_prefix(prefix_, data.size())});
        if (!data.empty()) add(data);
        if (chunked && !data.empty()) add(wire::crlf);
        if (chunked && last) add(wire::last_chunk);
    }
    bool empty() const noexcept { return count_ == 0; }
    std::span<net::const_buffer const> buffers() const noexcept { return {bufs_.data(), count_}; }

private:
    void add(std::string_view v) { bufs_[count_++] = net::const_buffer(v.data(), v.size()); }
    char prefix_[24];
    std::array<net::const_buffer, 5> bufs_;
    std::size_t count_ = 0;
};

} // namespace

// Everything one request needs for its log line and its error page.
struct client_session::exchange {
    clock::time_point started = clock::now();
    std::string ray;
    std::string host;
    std::string method;
    std::string target;
    std::string accept;
    std::string origin;
    std::string server;
    std::string diagnosis;
    unsigned version = 11;
    unsigned status = 0;
    long connect_ms = -1;
    long first_byte_ms = -1;
    std::string_view failure_name;
    std::string_view failed_phase;
    runtime const* rt = nullptr;

    void fail(failure f, std::string_view phase, std::string d) {
        failure_name = name(f);
        failed_phase = phase;
        if (!diagnosis.empty() && !d.empty()) diagnosis += "; then ";
        diagnosis += d;
    }
};

client_session::client_session(worker& w, tcp::socket socket)
    : worker_(w), socket_(std::move(socket)),
      buffer_(static_cast<std::size_t>(w.current()->cfg->edge.max_request_header) + relay_chunk),
      timer_(socket_.get_executor()), accepted_at_(clock::now()), client_ip_(client_address(socket_)) {
    boost::system::error_code aec;
    client_addr_ = net::ip::make_address(client_ip_, aec);
    worker_.add_session(this);
    worker_.open_connections_.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
}

client_session::~client_session() {
    worker_.remove_session(this);
    worker_.open_connections_.fetch_sub(1, std::memory_order_relaxed);
}

void client_session::start() {
    auto on_done = [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (std::exception const& ex) {
            spdlog::error("client session ended by exception: {}", ex.what());
        }
    };
    net::co_spawn(socket_.get_executor(), watchdog(shared_from_this()), on_done);
    net::co_spawn(socket_.get_executor(), run(shared_from_this()), on_done);
}

void client_session::drain() {
    if (idle_) {
        boost::system::error_code ec;
        socket_.cancel(ec);
    }
}

boost::system::error_code client_session::timed_out_as(boost::system::error_code ec, phase p) noexcept {
    if (ec == net::error::operation_aborted && expired_ == p) {
        expired_ = phase::none;
        return beast::error::timeout;
    }
    return ec;
}

void client_session::arm(phase p, clock::time_point deadline) {
    phase_ = p;
    expired_ = phase::none;
    auto const old = deadline_;
    deadline_ = deadline;
    // The watchdog sleeps until the old deadline; wake it only when the new one is earlier.
    if (deadline < old) timer_.cancel();
}

net::awaitable<void> client_session::watchdog(std::shared_ptr<client_session> /*self: keeps the session alive*/) {
    while (!closed_) {
        timer_.expires_at(deadline_);
        co_await timer_.async_wait(use_nothrow);
        if (closed_) break;
        if (clock::now() < deadline_) continue;  // re-armed earlier, or woken early
        if (phase_ != phase::none) {
            expired_ = phase_;
            boost::system::error_code ec;
            if (phase_ == phase::origin_read || phase_ == phase::origin_write) {
                if (origin_) origin_->cancel(ec);
            } else {
                socket_.cancel(ec);
            }
        }
        phase_ = phase::none;
        deadline_ = clock::time_point::max();
    }
}

net::awaitable<void> client_session::run(std::shared_ptr<client_session> /*self: keeps the session alive*/) {
    bool first = true;
    for (;;) {
        auto rt = worker_.current();  // this request's config generation, kept until it ends
        auto const& cfg = *rt->cfg;

        // Wait for the first byte of the next request (idle), then for the whole head.
        if (buffer_.size() == 0) {
            if (!first && cfg.timeouts.client_idle.count() == 0) break;
            if (worker_.draining()) break;
            arm(first ? phase::head : phase::idle,
                first ? accepted_at_ + cfg.timeouts.client_header : clock::now() + cfg.timeouts.client_idle);
            idle_ = true;
            // An idle connection keeps at most a small read buffer (memory per idle client).
            if (buffer_.capacity() > 4096) buffer_.shrink_to_fit();
            auto [ec, n] = co_await socket_.async_read_some(buffer_.prepare(2048), use_nothrow);
            idle_ = false;
            if (ec) break;  // peer closed, idle timeout or drain: close quietly
            buffer_.commit(n);
        }
        if (!first) arm(phase::head, clock::now() + cfg.timeouts.client_header);
        first = false;

        exchange x;
        x.rt = rt.get();
        x.ray = worker_.rays().next(cfg.edge.colo);

        request_parser parser;
        parser.header_limit(static_cast<std::uint32_t>(
            std::min<std::uint64_t>(cfg.edge.max_request_header, std::numeric_limits<std::uint32_t>::max())));
        parser.body_limit(boost::none);  // bodies stream; nothing is buffered whole
        auto [ec, n] = co_await http::async_read_header(socket_, buffer_, parser, use_nothrow);
        if (ec) {
            if (expired_ == phase::head) {
                // Some bytes arrived but not a whole head in time: 408, as nginx and Cloudflare do.
                x.fail(failure::request_timeout, "client_header",
                       "request head not complete within " + config::format_duration(cfg.timeouts.client_header));
                co_await send_error(failure::request_timeout, x, false);
            } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
                x.fail(failure::header_too_large, "client_header", "request head over " +
                       std::to_string(cfg.edge.max_request_header) + " bytes");
                co_await send_error(failure::header_too_large, x, false);
            } else if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
                       ec == net::error::operation_aborted || ec == net::error::connection_reset ||
                       ec == net::error::eof) {
                // The client went away (or we are draining): nothing to answer.
            } else {
                x.fail(failure::bad_request, "client_header", "malformed request: " + ec.message());
                co_await send_error(failure::bad_request, x, false);
            }
            break;
        }
        disarm();

        auto& req = parser.get();
        x.version = req.version();
        x.method = std::string(req.method_string());
        x.target = std::string(req.target());
        x.host = host_without_port(req[http::field::host]);
        x.accept = std::string(req[http::field::accept]);
        bool keep_alive = req.keep_alive() && cfg.timeouts.client_idle.count() > 0;

        if (req.count(http::field::transfer_encoding) && req.version() < 11) {
            // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing (a smuggling vector).
            x.fail(failure::bad_request, "client_header", "Transfer-Encoding in an HTTP/1.0 request");
            co_await send_error(failure::bad_request, x, false);
            break;
        }
        if (req.count(http::field::transfer_encoding) && !parser.chunked()) {
            // RFC 9112 6.1: a transfer-coding we do not understand.
            x.fail(failure::not_implemented, "client_header", "unsupported Transfer-Encoding");
            co_await send_error(failure::not_implemented, x, false);
            break;
        }
        if ((x.host.empty() && req.version() >= 11) || req.count(http::field::host) > 1) {
            // RFC 9112 3.2: no Host in HTTP/1.1, or more than one: 400.
            x.fail(failure::bad_request, "client_header", "HTTP/1.1 request without exactly one Host");
            co_await send_error(failure::bad_request, x, false);
            break;
        }

        bool more = false;
        auto const* o = rt->routes.route(x.host);
        if (o) x.origin = o->name;
        auto const& rules = rt->access_for(o);
        constexpr std::string_view test_prefix = "/cdn-cgi/error/";
        if (auto d = rules.check(client_addr_); !d.allowed) {
            // Cloudflare's IP Access Rules: decided before any origin is contacted.
            x.fail(failure::access_denied, "access",
                   "client " + client_ip_ + " matched block rule " + d.rule->text +
                       (o && o->access ? " of origin \"" + o->name + "\"" : std::string(" of [access]")));
            more = co_await send_error(failure::access_denied, x, keep_alive && parser.is_done());
        } else if (x.target.starts_with(test_prefix)) {
            // Cloudflare's own test URL: the page of that code, no origin touched.
            x.origin.clear();
            std::string_view code_text = std::string_view(x.target).substr(test_prefix.size());
            code_text = code_text.substr(0, code_text.find_first_of("?#/"));
            unsigned code = 0;
            auto [p, perr] = std::from_chars(code_text.data(), code_text.data() + code_text.size(), code);
            std::optional<failure> f;
            if (perr == std::errc{} && p == code_text.data() + code_text.size()) f = failure_for_code(code);
            x.fail(f.value_or(failure::not_found), "test_url", "");
            x.failure_name = {};  // a requested page, not a failure of this exchange
            more = co_await send_error(f.value_or(failure::not_found), x, keep_alive && parser.is_done());
        } else if (o) {
            more = co_await forward(*o, parser, x, keep_alive);
        } else {
            x.fail(failure::no_origin_for_host, "route", "no [[origins]] hosts pattern matches \"" + x.host + "\"");
            more = co_await send_error(failure::no_origin_for_host, x, keep_alive && parser.is_done());
        }

        if (x.status != 0) worker_.metrics().count_request(x.origin, x.status);
        log_access({client_ip_, x.host, x.method, x.target, x.status, x.origin, x.server, x.connect_ms,
                    x.first_byte_ms, ms_since(x.started), x.ray, x.failure_name, x.failed_phase,
                    x.failure_name.empty() ? std::string_view{} : std::string_view(x.diagnosis)});
        if (!more || worker_.draining()) break;
    }

    closed_ = true;
    timer_.cancel();
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    socket_.close(ec);
}

net::awaitable<bool> client_session::send_error(failure f, exchange& x, bool keep_alive) {
    auto const& cfg = *x.rt->cfg;
    keep_alive = keep_alive && !worker_.draining();
    page_context ctx{f, x.host, x.ray, client_ip_, cfg.edge.colo, std::chrono::system_clock::now(),
                     cfg.edge.diagnostics, x.diagnosis, cfg.edge.server_header};
    auto res = make_error_response(ctx, negotiate(x.accept), x.version >= 10 ? x.version : 11, keep_alive);
    if (x.method == "HEAD") res.body().clear();  // Content-Length stays that of the GET
    x.status = info(f).status;
    arm(phase::write, clock::now() + cfg.timeouts.write);
    http::response_serializer<http::string_body> sr{res};
    if (x.method == "HEAD") sr.split(true);
    auto [ec, n] = x.method == "HEAD" ? co_await http::async_write_header(socket_, sr, use_nothrow)
                                      : co_await http::async_write(socket_, sr, use_nothrow);
    disarm();
    co_return !ec && keep_alive;
}

net::awaitable<bool> client_session::forward(config::origin const& o, request_parser& parser, exchange& x,
                                             bool keep_alive) {
    auto const& cfg = *x.rt->cfg;
    auto& req = parser.get();
    bool const has_body = !parser.is_done();
    bool const expect_continue = beast::iequals(req[http::field::expect], "100-continue");
    bool const chunked = parser.chunked();
    bool const head_request = req.method() == http::verb::head;

    prepare_origin_request(req, forward_context{client_ip_, "http", x.ray});
    if (chunked) req.chunked(true);

    relay_buffer chunk(worker_);  // the relay buffer, shared by both directions in turn
    bool body_started = false;      // request body bytes consumed from the client: no more retries
    bool fresh_only = false;        // a pooled connection failed: the retry must connect anew
    std::optional<tcp::socket> conn;
    std::string server_key;
    beast::flat_buffer obuf(static_cast<std::size_t>(cfg.edge.max_response_header) + relay_chunk);
    std::optional<http::response_parser<http::buffer_body>> rp;
    auto reset_response_parser = [&] {
        rp.emplace();
        rp->header_limit(static_cast<std::uint32_t>(
            std::min<std::uint64_t>(cfg.edge.max_response_header, std::numeric_limits<std::uint32_t>::max())));
        rp->body_limit(boost::none);
        if (head_request) rp->skip(true);
    };

    for (;;) {
        // 1. A connection: the warmest pooled one, else a new connect with failover.
        bool reused = false;
        conn.reset();
        origin_ = nullptr;
        for (std::size_t si = 0, attempt = 0; !conn;) {
            auto const& server = o.servers[si];
            if (!fresh_only) {
                if (auto pooled = worker_.pool().take(server.text)) {
                    conn.emplace(std::move(*pooled));
                    reused = true;
                    server_key = server.text;
                    x.server = server.text;
                    x.connect_ms = -1;
                    break;
                }
            }
            auto& m = worker_.metrics();
            ++m.connects_pending;
            connect_policy policy{worker_.next_egress(*x.rt, o), &o.firewall_allow, o.firewall};
            auto cr = co_await connect_origin(server, o.timeouts, cfg.timeouts.dns, policy);
            --m.connects_pending;
            if (cr.why != failure::dns_failed || cr.stream)
                m.observe_connect(o.name, std::chrono::duration<double>(cr.connect_time).count());
            x.server = cr.address;
            if (cr.stream) {
                conn.emplace(std::move(*cr.stream));
                server_key = server.text;
                x.connect_ms = static_cast<long>(cr.connect_time.count() / 1000);
                break;
            }
            x.connect_ms = static_cast<long>(cr.connect_time.count() / 1000);
            x.fail(cr.why, cr.why == failure::dns_failed ? "dns" : "connect", describe_connect_failure(cr, o.timeouts));
            // Cloudflare's zero-downtime failover: once, to the next server, for 521/522/523/525/526.
            if (o.failover && info(cr.why).failover && attempt == 0 && si + 1 < o.servers.size()) {
                ++si;
                ++attempt;
                continue;
            }
            co_return co_await send_error(cr.why, x, keep_alive && !has_body);
        }

        // 2. The request head, then the body streamed from the client.
        if (expect_continue && has_body && !body_started) {
            static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
            arm(phase::write, clock::now() + cfg.timeouts.write);
            auto [cec, cn] = co_await net::async_write(socket_, net::buffer(cont.data(), cont.size()), use_nothrow);
            disarm();
            if (cec) co_return false;
        }
        wire_.clear();
        wire::append_request_head(wire_, req);
        auto const sent_at = clock::now();
        origin_ = &*conn;
        arm(phase::origin_write, clock::now() + o.timeouts.write);
        auto [wec, wn] = co_await net::async_write(*conn, net::buffer(wire_), use_nothrow);
        disarm();
        wec = timed_out_as(wec, phase::origin_write);
        if (wec) {
            if (reused && !body_started) {  // the origin closed its idle connection: retry anew
                fresh_only = true;
                continue;
            }
            auto f = classify_write_error(wec);
            x.fail(f, "request", "writing the request head to " + x.server + " failed (" + errno_name(wec) + ")");
            co_return co_await send_error(f, x, false);
        }
        // Beast sizes each read by the buffer's free capacity (512 bytes at least): give a body
        // that is still to come room for big reads.
        if (has_body && buffer_.capacity() - buffer_.size() < relay_chunk / 2) buffer_.reserve(buffer_.size() + relay_chunk);
        for (bool done = !has_body; !done;) {
            req.body().data = chunk.get();
            req.body().size = relay_chunk;
            arm(phase::body, clock::now() + cfg.timeouts.client_header);
            auto [rec, rn] = co_await http::async_read_some(socket_, buffer_, parser, use_nothrow);
            disarm();
            body_started = true;
            if (rec == http::error::need_buffer) rec = {};
            if (rec) {
                if (rec.category() == http::make_error_code(http::error::bad_chunk).category() &&
                    rec != http::error::partial_message && rec != http::error::end_of_stream) {
                    // A malformed body (bad chunk framing, an absurd chunk size): 400, and the
                    // origin connection, which saw part of it, is dropped.
                    x.fail(failure::bad_request, "client_body", "malformed request body: " + rec.message());
                    co_return co_await send_error(failure::bad_request, x, false);
                }
                // The client stopped sending its body (or timed out): nothing to answer.
                x.fail(failure::bad_request, "client_body", "client request body ended early (" + rec.message() + ")");
                x.status = 0;
                co_return false;
            }
            std::size_t const n = relay_chunk - req.body().size;
            done = parser.is_done();
            framed_piece piece(chunked, std::string_view(chunk.get(), n), done);
            if (piece.empty()) continue;  // e.g. only a chunk header arrived
            arm(phase::origin_write, clock::now() + o.timeouts.write);
            auto [bec, bn] = co_await net::async_write(*conn, piece.buffers(), use_nothrow);
            disarm();
            bec = timed_out_as(bec, phase::origin_write);
            if (bec) {
                auto f = classify_write_error(bec);
                x.fail(f, "request_body",
                    f == failure::write_timeout ? "origin " + x.server + " did not take the request body within " + config::format_duration(o.timeouts.write)
                    : f == failure::request_not_acked ? "origin " + x.server + " did not ACK the request within " + config::format_duration(o.timeouts.request_ack)
                    : "writing the request body to " + x.server + " failed (" + errno_name(bec) + ")");
                co_return co_await send_error(f, x, false);
            }
        }

        // 3. The response head (informational 1xx other than 101 are dropped).
        reset_response_parser();
        arm(phase::origin_read, clock::now() + o.timeouts.read);
        auto [hec, hn] = co_await http::async_read_header(*conn, obuf, *rp, use_nothrow);
        while (!hec && rp->get().result_int() >= 100 && rp->get().result_int() < 200 &&
               rp->get().result() != http::status::switching_protocols) {
            reset_response_parser();
            std::tie(hec, hn) = co_await http::async_read_header(*conn, obuf, *rp, use_nothrow);
        }
        disarm();
        hec = timed_out_as(hec, phase::origin_read);
        if (hec) {
            bool const got_bytes = hec != http::error::end_of_stream;
            if (reused && !has_body && !got_bytes) {  // stale pooled connection: retry anew
                fresh_only = true;
                continue;
            }
            auto f = classify_response_error(hec, got_bytes);
            std::string d;
            switch (f) {
            case failure::read_timeout:
                d = "no response head from " + x.server + " within " + config::format_duration(o.timeouts.read);
                break;
            case failure::request_not_acked:
                d = "origin " + x.server + " did not ACK the request within " + config::format_duration(o.timeouts.request_ack);
                break;
            case failure::empty_response:
                d = "origin " + x.server + " closed the connection without a response";
                break;
            case failure::connection_reset:
                d = "origin " + x.server + " reset the connection (" + errno_name(hec) + ")";
                break;
            case failure::response_header_too_large:
                d = "response head from " + x.server + " over " + std::to_string(cfg.edge.max_response_header) + " bytes";
                break;
            default:
                d = "origin " + x.server + " sent something that is not an HTTP response (" + hec.message() + ")";
                break;
            }
            d += "; waited " + std::to_string(ms_since(sent_at)) + " ms";
            x.fail(f, "response", std::move(d));
            co_return co_await send_error(f, x, keep_alive && parser.is_done());
        }
        x.first_byte_ms = ms_since(sent_at);
        break;
    }

    // 4. The response, streamed to the client.
    auto& res = rp->get();
    bool const upgrade = res.result() == http::status::switching_protocols;
    bool const body_expected = !rp->is_done();
    bool const delimited = rp->chunked() || rp->content_length().has_value();
    bool const origin_keep = rp->keep_alive() && (delimited || !body_expected) && !upgrade;
    bool const out_chunked = body_expected && !rp->content_length().has_value();
    prepare_client_response(res, cfg.edge.server_header, x.ray);
    res.version(x.version);
    if (out_chunked) {
        if (x.version >= 11) res.chunked(true);
        else keep_alive = false;  // HTTP/1.0: the close delimits the body
    }
    if (!upgrade) res.keep_alive(keep_alive && !worker_.draining());
    x.status = res.result_int();

    bool const frame_chunks = out_chunked && x.version >= 11;
    wire_.clear();
    wire::append_response_head(wire_, res);
    bool head_sent = false;
    if (upgrade || !body_expected || obuf.size() == 0) {
        // No body, or it has not arrived yet (or never will, on a 101): the head goes out alone
        // now, so a slow or streaming origin does not hold it back.
        arm(phase::write, clock::now() + cfg.timeouts.write);
        auto [ec, n] = co_await net::async_write(socket_, net::buffer(wire_), use_nothrow);
        disarm();
        if (ec) co_return false;
        head_sent = true;
        if (upgrade) {
            co_await tunnel(*conn, obuf);
            co_return false;
        }
    }
    // Room for big reads when more body is to come than already arrived with the head (Beast sizes
    // each read by the free capacity of the buffer; small bodies that came with the head need none).
    if (body_expected && (!rp->content_length() || *rp->content_length() > obuf.size()))
        obuf.reserve(obuf.size() + relay_chunk);
    // Otherwise the head leaves with the first body bytes in one write.
    for (bool done = !body_expected; !done;) {
        res.body().data = chunk.get();
        res.body().size = relay_chunk;
        arm(phase::origin_read, clock::now() + o.timeouts.read);
        auto [rec, rn] = co_await http::async_read_some(*conn, obuf, *rp, use_nothrow);
        disarm();
        rec = timed_out_as(rec, phase::origin_read);
        if (rec == http::error::need_buffer || (rec && rp->is_done())) rec = {};
        if (rec) {
            // The origin failed mid-body: the head is gone, so the only honest signal left is
            // to cut the client connection (no terminating chunk).
            x.fail(classify_response_error(rec, true), "response_body",
                   "origin " + x.server + " failed mid-body (" + errno_name(rec) + ")");
            co_return false;
        }
        std::size_t const n = relay_chunk - res.body().size;
        done = rp->is_done();
        framed_piece piece(frame_chunks, std::string_view(chunk.get(), n), done,
                           head_sent ? std::string_view{} : std::string_view(wire_));
        if (piece.empty()) continue;
        arm(phase::write, clock::now() + cfg.timeouts.write);
        auto [wec, wn] = co_await net::async_write(socket_, piece.buffers(), use_nothrow);
        disarm();
        if (wec) co_return false;  // the client went away (or stopped reading): drop both sides
        head_sent = true;
    }
    origin_ = nullptr;
    if (origin_keep && obuf.size() == 0 && rp->is_done() && !worker_.draining())
        worker_.pool().put(server_key, std::move(*conn), o.timeouts.origin_idle);
    co_return keep_alive;
}

net::awaitable<void> client_session::tunnel(tcp::socket& origin, beast::flat_buffer& origin_buffer) {
    using namespace net::experimental::awaitable_operators;
    disarm();
    origin_ = nullptr;
    auto& osock = origin;
    // Bytes already read past the heads belong to the other side.
    if (origin_buffer.size() > 0) {
        auto [ec, n] = co_await net::async_write(socket_, origin_buffer.data(), use_nothrow);
        if (ec) co_return;
    }
    if (buffer_.size() > 0) {
        auto [ec, n] = co_await net::async_write(osock, buffer_.data(), use_nothrow);
        if (ec) co_return;
        buffer_.consume(buffer_.size());
    }
    auto pump = [](tcp::socket& from, tcp::socket& to) -> net::awaitable<void> {
        std::unique_ptr<char[]> buf(new char[16 * 1024]);
        for (;;) {
            auto [rec, n] = co_await from.async_read_some(net::buffer(buf.get(), 16 * 1024), use_nothrow);
            if (rec) break;
            auto [wec, wn] = co_await net::async_write(to, net::buffer(buf.get(), n), use_nothrow);
            if (wec) break;
        }
        boost::system::error_code ec;
        to.shutdown(tcp::socket::shutdown_send, ec);
    };
    // Either direction ending cancels the other (Kohlhoff's talking-async proxy).
    co_await (pump(socket_, osock) || pump(osock, socket_));
}

} // namespace edge522
