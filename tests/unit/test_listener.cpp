// The client listener's socket options, on a real loopback socket.

#include "proxy/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <catch2/catch.hpp>

namespace net = boost::asio;
using net::ip::tcp;

namespace {

// Connects to `a` and returns the socket the listener accepted for it.
tcp::socket accept_one(net::io_context& ioc, tcp::acceptor& a, tcp::socket& client) {
    client.connect(a.local_endpoint());
    tcp::socket s(ioc);
    tcp::endpoint peer;
    a.accept(s, peer);
    CHECK(peer == client.local_endpoint());
    return s;
}

} // namespace

TEST_CASE("accepted client sockets have TCP_NODELAY from the listener", "[listener]") {
    net::io_context ioc;
    tcp::acceptor a(ioc);
    REQUIRE_FALSE(edge522::open_acceptor(a, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0), false));
    tcp::no_delay on;
    a.get_option(on);
    CHECK(on.value());
    tcp::socket client(ioc);
    auto s = accept_one(ioc, a, client);
    tcp::no_delay child;
    s.get_option(child);
    CHECK(child.value());  // the kernel copied it: the edge sets it on no connection itself

    // Not the kernel's default: a listener without it gives sockets without it.
    tcp::acceptor plain(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::socket client2(ioc);
    auto s2 = accept_one(ioc, plain, client2);
    tcp::no_delay child2;
    s2.get_option(child2);
    CHECK_FALSE(child2.value());
}
