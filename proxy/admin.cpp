#include "proxy/admin.hpp"

#include "proxy/metrics.hpp"
#include "proxy/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

namespace edge522 {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

struct admin::impl : std::enable_shared_from_this<admin::impl> {
    impl(net::io_context& ioc, std::vector<worker*> w, hooks h)
        : ioc(ioc), acceptor(ioc), workers(std::move(w)), hooks_(std::move(h)) {}

    net::io_context& ioc;
    tcp::acceptor acceptor;
    std::vector<worker*> workers;
    hooks hooks_;

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
    net::awaitable<worker_metrics> collect() {
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

    json::value origins_json() {
        auto cfg = hooks_.current_config();
        json::array out;
        for (auto const& o : cfg->origins) {
            json::array hosts, servers;
            for (auto const& h : o.hosts) hosts.emplace_back(h);
            for (auto const& s : o.servers) servers.emplace_back(s.text);
            out.emplace_back(json::object{{"name", o.name}, {"hosts", hosts}, {"servers", servers},
                                          {"failover", o.failover}, {"faults", json::array{}}});
        }
        return json::object{{"origins", out}};
    }

    net::awaitable<response> route(http::request<http::string_body> const& req) {
        auto cfg = hooks_.current_config();
        if (!cfg->admin.token.empty() &&
            req[http::field::authorization] != "Bearer " + cfg->admin.token) {
            auto res = error(http::status::unauthorized, "missing or wrong bearer token");
            res.set(http::field::www_authenticate, "Bearer");
            co_return res;
        }
        std::string_view target = req.target();
        target = target.substr(0, target.find('?'));
        auto const verb = req.method();
        if (target == "/healthz" && verb == http::verb::get) {
            response res{http::status::ok, 11};
            res.set(http::field::content_type, "text/plain");
            res.body() = "ok\n";
            co_return res;
        }
        if (target == "/metrics" && verb == http::verb::get) {
            auto m = co_await collect();
            response res{http::status::ok, 11};
            res.set(http::field::content_type, "text/plain; version=0.0.4");
            res.body() = render_prometheus(m);
            co_return res;
        }
        if (target == "/origins" && verb == http::verb::get) co_return json_response(http::status::ok, origins_json());
        if (target == "/reload" && verb == http::verb::post) {
            auto errors = hooks_.reload();
            if (errors.empty()) co_return json_response(http::status::ok, json::object{{"reloaded", true}});
            json::array list;
            for (auto const& e : errors) list.emplace_back(e.to_string());
            co_return json_response(http::status::bad_request, json::object{{"error", "config rejected"}, {"errors", list}});
        }
        if (target == "/reset" && verb == http::verb::post) {
            // No run-time faults can exist in this build (faults are not implemented yet).
            co_return response{http::status::no_content, 11};
        }
        if (target.starts_with("/origins/")) {
            auto rest = target.substr(9);
            auto name = rest.substr(0, rest.find('/'));
            bool known = false;
            for (auto const& o : cfg->origins) known = known || o.name == name;
            if (!known) co_return error(http::status::not_found, "unknown origin");
            co_return error(http::status::not_implemented, "faults are not supported by this build yet");
        }
        co_return error(http::status::not_found, "no such admin endpoint");
    }

    net::awaitable<void> serve(tcp::socket socket) {
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buf(64 * 1024);
        http::request_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(64 * 1024);
        stream.expires_after(std::chrono::seconds(5));
        auto [ec, n] = co_await http::async_read(stream, buf, parser, use_nothrow);
        response res;
        if (ec == http::error::body_limit || ec == http::error::header_limit) {
            res = error(http::status::payload_too_large, "request too large");
        } else if (ec) {
            if (ec == http::error::end_of_stream || ec == beast::error::timeout) co_return;
            res = error(http::status::bad_request, ec.message());
        } else {
            res = co_await route(parser.get());
        }
        res.set(http::field::server, "edge522-admin");
        res.keep_alive(false);
        res.prepare_payload();
        stream.expires_after(std::chrono::seconds(5));
        co_await http::async_write(stream, res, use_nothrow);
        boost::system::error_code sec;
        stream.socket().shutdown(tcp::socket::shutdown_send, sec);
    }

    net::awaitable<void> accept_loop() {
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
            net::co_spawn(ioc, serve(std::move(socket)), [](std::exception_ptr e) {
                if (!e) return;
                try {
                    std::rethrow_exception(e);
                } catch (std::exception const& ex) {
                    spdlog::error("admin: request ended by exception: {}", ex.what());
                }
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

tcp::endpoint admin::local_endpoint() const { return impl_->acceptor.local_endpoint(); }

void admin::start() {
    net::co_spawn(impl_->ioc, impl_->accept_loop(), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (std::exception const& ex) {
            spdlog::critical("admin: accept loop ended by exception: {}", ex.what());
        }
    });
}

void admin::stop() {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
}

} // namespace edge522
