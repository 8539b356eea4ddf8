#include "proxy/admin.hpp"

#include "proxy/access_log.hpp"
#include "proxy/faults.hpp"
#include "proxy/metrics.hpp"
#include "proxy/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/string_type.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <string_view>
#include <type_traits>

namespace edge522 {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

// Boost 1.81's beast::string_view is boost::core::string_view whatever the configuration (the old
// BOOST_BEAST_USE_STD_STRING_VIEW switch only prints a deprecation message); this code relies on it
// converting to std::string_view both ways.
static_assert(std::is_convertible_v<beast::string_view, std::string_view>);
static_assert(std::is_convertible_v<std::string_view, beast::string_view>);

namespace {

constexpr std::size_t admin_header_limit = 16 * 1024;
constexpr std::size_t admin_body_limit = 64 * 1024;
// Connections served at once; more are closed at accept. The admin shares the process's fd limit
// with the edge: a flood on the admin port must not starve the data plane.
constexpr std::size_t admin_max_connections = 64;

using boost::beast::iequals;

// Compares the client's `given` with the `secret` in a time that depends only on the length of
// `given` (which the client knows), never on where the two first differ.
bool constant_time_equal(std::string_view given, std::string_view secret) noexcept {
    if (secret.empty()) return given.empty();
    unsigned diff = given.size() != secret.size() ? 1u : 0u;
    for (std::size_t i = 0; i < given.size(); ++i)
        diff |= static_cast<unsigned char>(given[i]) ^ static_cast<unsigned char>(secret[i % secret.size()]);
    return diff == 0;
}

// RFC 9110 11.4: credentials = auth-scheme [ 1*SP token68 ], the scheme case-insensitive (11.1).
bool bearer_matches(std::string_view field, std::string_view token) noexcept {
    auto const sp = field.find(' ');
    if (sp == std::string_view::npos || !iequals(field.substr(0, sp), "bearer")) return false;
    auto cred = field.substr(sp);
    while (!cred.empty() && cred.front() == ' ') cred.remove_prefix(1);
    while (!cred.empty() && (cred.back() == ' ' || cred.back() == '\t')) cred.remove_suffix(1);
    return constant_time_equal(cred, token);
}

} // namespace

struct admin::impl : std::enable_shared_from_this<admin::impl> {
    impl(net::io_context& ioc, std::vector<worker*> w, hooks h)
        : ioc(ioc), acceptor(ioc), workers(std::move(w)), hooks_(std::move(h)) {}

    net::io_context& ioc;
    tcp::acceptor acceptor;
    std::vector<worker*> workers;
    hooks hooks_;
    std::size_t connections = 0;  // on the control thread only

    using response = http::response<http::string_body>;

    static response json_response(http::status st, json::value const& v) {
        response res{st, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = json::serialize(v);
        res.body() += "\n";
        return res;
    }
    static response error(http::status st, std::string_view message) {
        return json_response(st, json::object{{"error", message}});
    }

    // Copies of every worker's metrics, merged here; a worker that does not answer within 2 s
    // (stopped, or stuck) is left out rather than hanging the scrape.
    task<worker_metrics> collect() {
        struct state {
            explicit state(net::any_io_executor ex) : done(ex) {}
            net::steady_timer done;
            worker_metrics total;
            std::size_t remaining = 0;
        };
        auto ex = co_await net::this_coro::executor;
        auto st = std::make_shared<state>(ex);
        st->remaining = workers.size();
        st->done.expires_after(std::chrono::seconds(2));
        for (auto* w : workers)
            w->with_metrics([st, ex](worker_metrics m) {
                net::post(ex, [st, m = std::move(m)] {
                    st->total.merge(m);
                    if (--st->remaining == 0) st->done.cancel();
                });
            });
        co_await st->done.async_wait(use_nothrow);
        co_return st->total;
    }

    json::value origins_json(config::config const& cfg) {
        json::array out;
        auto const table = fault_registry::process().snapshot();
        for (auto const& o : cfg.origins) {
            json::array hosts, servers, faults;
            for (auto const& h : o.hosts) hosts.emplace_back(h);
            for (auto const& s : o.servers) servers.emplace_back(s.text);
            if (auto const* list = table->of(o.name))
                for (auto const& f : *list) faults.emplace_back(fault_to_json(f));
            out.emplace_back(json::object{{"name", o.name}, {"hosts", hosts}, {"servers", servers},
                                          {"failover", o.failover}, {"faults", faults}});
        }
        return json::object{{"origins", out}};
    }

    // The resources and the methods each answers. HEAD goes wherever GET does (the same head,
    // no body: serve() drops it). `allow` empty = no such resource (404).
    enum class resource { none, healthz, metrics, origins, reload, reset, faults, fault };
    struct match {
        resource what = resource::none;
        std::string_view allow;
        std::string_view not_found = "no such admin endpoint";
    };
    // /origins/NAME/faults[/ID] -> NAME, ID ("" when absent); find() has checked the shape.
    static std::pair<std::string_view, std::string_view> fault_path(std::string_view path) {
        auto rest = path.substr(9);
        auto const name = rest.substr(0, rest.find('/'));
        rest.remove_prefix(name.size() + 1 + 6);  // "/faults"
        return {name, rest.empty() ? rest : rest.substr(1)};
    }
    static match find(std::string_view path, config::config const& cfg) {
        if (path == "/healthz") return {resource::healthz, "GET, HEAD"};
        if (path == "/metrics") return {resource::metrics, "GET, HEAD"};
        if (path == "/origins") return {resource::origins, "GET, HEAD"};
        if (path == "/reload") return {resource::reload, "POST"};
        if (path == "/reset") return {resource::reset, "POST"};
        if (path.starts_with("/origins/")) {
            // /origins/NAME/faults and /origins/NAME/faults/ID
            auto rest = path.substr(9);
            auto const slash = rest.find('/');
            auto const name = rest.substr(0, slash);
            bool known = false;
            for (auto const& o : cfg.origins) known = known || o.name == name;
            if (!known) return {resource::none, "", "unknown origin"};
            if (slash == std::string_view::npos) return {};
            rest = rest.substr(slash + 1);
            if (rest == "faults") return {resource::faults, "POST, DELETE"};
            if (rest.starts_with("faults/") && rest.size() > 7 && rest.find('/', 7) == std::string_view::npos)
                return {resource::fault, "DELETE"};
        }
        return {};
    }
    static bool allows(std::string_view allow, http::verb v) {
        if (v == http::verb::unknown) return false;  // "get", "FOO": never a method of ours
        auto const m = http::to_string(v);
        for (std::size_t pos = 0; pos < allow.size();) {
            auto end = allow.find(", ", pos);
            if (end == std::string_view::npos) end = allow.size();
            if (allow.substr(pos, end - pos) == std::string_view(m)) return true;
            pos = end + 2;
        }
        return false;
    }

    task<response> route(http::request<http::string_body> const& req) {
        auto cfg = hooks_.current_config();
        if (!cfg->admin.token.empty() && !bearer_matches(req[http::field::authorization], cfg->admin.token)) {
            auto res = error(http::status::unauthorized, "missing or wrong bearer token");
            res.set(http::field::www_authenticate, "Bearer");
            co_return res;
        }
        std::string_view target = req.target();
        target = target.substr(0, target.find('?'));
        auto const m = find(target, *cfg);
        if (m.what == resource::none) co_return error(http::status::not_found, m.not_found);
        if (!allows(m.allow, req.method())) {
            auto res = json_response(http::status::method_not_allowed,
                                     json::object{{"error", "method not allowed"}, {"allow", m.allow}});
            res.set(http::field::allow, m.allow);
            co_return res;
        }
        switch (m.what) {
        case resource::healthz: {
            response res{http::status::ok, 11};
            res.set(http::field::content_type, "text/plain");
            res.body() = "ok\n";
            co_return res;
        }
        case resource::metrics: {
            auto metrics = co_await collect();
            auto const table = fault_registry::process().snapshot();
            for (auto const& o : cfg->origins) {
                auto const* list = table->of(o.name);
                metrics.faults_active[o.name] = list ? list->size() : 0;
            }
            auto const& process = process_counters::process();
            metrics.reloads_ok = process.reloads_ok.load(std::memory_order_relaxed);
            metrics.reloads_rejected = process.reloads_rejected.load(std::memory_order_relaxed);
            metrics.access_log_dropped = access_log_dropped();
            response res{http::status::ok, 11};
            res.set(http::field::content_type, "text/plain; version=0.0.4");
            res.body() = render_prometheus(metrics);
            co_return res;
        }
        case resource::origins:
            co_return json_response(http::status::ok, origins_json(*cfg));
        case resource::reload: {
            auto r = hooks_.reload();
            if (r.errors.empty()) {
                json::array restart;
                for (auto const& k : r.restart_required) restart.emplace_back(k);
                co_return json_response(http::status::ok, json::object{{"reloaded", true}, {"restart_required", restart}});
            }
            json::array list;
            for (auto const& e : r.errors) list.emplace_back(e.to_string());
            co_return json_response(http::status::bad_request, json::object{{"error", "config rejected"}, {"errors", list}});
        }
        case resource::reset:
            fault_registry::process().reset();
            co_return response{http::status::no_content, 11};
        case resource::faults:
            if (req.method() == http::verb::delete_) {
                fault_registry::process().clear(fault_path(target).first);
                co_return response{http::status::no_content, 11};
            }
            co_return add_fault(fault_path(target).first, req.body());
        case resource::fault: {
            auto const [origin, id] = fault_path(target);
            co_return remove_fault(origin, id);
        }
        case resource::none:
            break;
        }
        co_return error(http::status::not_found, "no such admin endpoint");
    }

    // POST /origins/NAME/faults: a bad body changes nothing.
    static response add_fault(std::string_view origin, std::string const& body) {
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        if (ec) return error(http::status::bad_request, "body: not JSON (" + ec.message() + ")");
        std::string why;
        auto f = fault_from_json(v, why);
        if (!f) return error(http::status::bad_request, why);
        auto const id = fault_registry::process().add(origin, *f);
        spdlog::info("admin: fault {} ({}) added to origin {}", id, config::name(f->type), origin);
        return json_response(http::status::created, json::object{{"id", id}});
    }

    static response remove_fault(std::string_view origin, std::string_view id_text) {
        std::uint64_t id = 0;
        bool digits = !id_text.empty() && id_text.size() <= 18;
        for (char c : id_text) {
            digits = digits && c >= '0' && c <= '9';
            if (digits) id = id * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (!digits || !fault_registry::process().remove(origin, id))
            return error(http::status::not_found, "unknown fault id");
        return response{http::status::no_content, 11};
    }

    task<void> serve(tcp::socket socket) {
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buf(64 * 1024);
        http::request_parser<http::string_body> parser;
        parser.header_limit(admin_header_limit);
        parser.body_limit(admin_body_limit);
        stream.expires_after(std::chrono::seconds(5));
        auto [ec, n] = co_await http::async_read(stream, buf, parser, use_nothrow);
        if (ec == http::error::end_of_stream || ec == beast::error::timeout) co_return;
        response res;
        bool head = false;
        try {
            if (ec == http::error::header_limit) {
                res = error(http::status::request_header_fields_too_large, "request head over 16 KiB");
            } else if (ec == http::error::body_limit) {
                res = error(http::status::payload_too_large, "request body over 64 KiB");
            } else if (ec) {
                res = error(http::status::bad_request, "malformed request: " + ec.message());
            } else {
                head = parser.get().method() == http::verb::head;
                res = co_await route(parser.get());
            }
            res.set(http::field::server, "edge522-admin");
            res.keep_alive(false);
            res.prepare_payload();
        } catch (std::exception const& ex) {
            spdlog::error("admin: request failed: {}", ex.what());
            res = error(http::status::internal_server_error, "internal error");
            res.set(http::field::server, "edge522-admin");
            res.keep_alive(false);
            res.prepare_payload();
        }
        if (head) res.body().clear();  // Content-Length stays that of the GET answer
        stream.expires_after(std::chrono::seconds(5));
        auto [wec, wn] = co_await http::async_write(stream, res, use_nothrow);
        if (wec) co_return;
        boost::system::error_code sec;
        stream.socket().shutdown(tcp::socket::shutdown_send, sec);
        // Read what the client still sends (the rest of an oversized head or body) until it
        // closes, for at most 1 s and 1 MiB: closing on unread data sends a RST, which can destroy
        // the answer before the client has read it.
        char sink[4096];
        stream.expires_after(std::chrono::seconds(1));
        for (std::size_t total = 0; total < 1024 * 1024;) {
            auto [rec, rn] = co_await stream.async_read_some(net::buffer(sink), use_nothrow);
            if (rec) break;
            total += rn;
        }
    }

    static void log_exception(std::exception_ptr e, char const* what) noexcept {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (std::exception const& ex) {
            spdlog::error("admin: {} ended by exception: {}", what, ex.what());
        } catch (...) {
            spdlog::error("admin: {} ended by an unknown exception", what);
        }
    }

    task<void> accept_loop() {
        auto self = shared_from_this();
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
            if (!acceptor.is_open() || ec == net::error::operation_aborted) co_return;
            if (ec) {
                spdlog::warn("admin: accept failed: {}", ec.message());
                net::steady_timer t(ioc, std::chrono::milliseconds(100));
                co_await t.async_wait(use_nothrow);
                continue;
            }
            if (connections >= admin_max_connections) {
                boost::system::error_code cec;
                socket.close(cec);
                continue;
            }
            ++connections;
            net::co_spawn(ioc, serve(std::move(socket)), [self](std::exception_ptr e) {
                --self->connections;
                log_exception(e, "request");
            });
        }
    }
};

admin::admin(net::io_context& ioc, std::vector<worker*> workers, hooks h)
    : impl_(std::make_shared<impl>(ioc, std::move(workers), std::move(h))) {}

boost::system::error_code admin::listen(config::host_port const& where) {
    boost::system::error_code ec;
    auto addr = net::ip::make_address(where.host, ec);
    if (ec) return ec;
    tcp::endpoint ep(addr, where.port);
    auto& a = impl_->acceptor;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
    return ec;
}

tcp::endpoint admin::local_endpoint() const {
    boost::system::error_code ec;
    return impl_->acceptor.local_endpoint(ec);
}

void admin::start() {
    net::co_spawn(impl_->ioc, impl_->accept_loop(), [](std::exception_ptr e) { impl::log_exception(e, "accept loop"); });
}

void admin::stop() {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
}

} // namespace edge522
