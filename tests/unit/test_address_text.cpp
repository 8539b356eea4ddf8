#include "proxy/address_text.hpp"

#include <boost/asio/ip/address.hpp>
#include <catch2/catch.hpp>

namespace net = boost::asio;
using edge522::address_text;
using edge522::endpoint_text;

TEST_CASE("addresses as text: IPv4 as inet_ntop writes it and IPv6 in its short form", "[address]") {
    // Every byte value in every position, against Asio's own (inet_ntop) text.
    for (unsigned v = 0; v < 256; ++v) {
        for (int at = 0; at < 4; ++at) {
            net::ip::address_v4::bytes_type b{1, 20, 255, 0};
            b[static_cast<std::size_t>(at)] = static_cast<unsigned char>(v);
            net::ip::address const a(net::ip::address_v4{b});
            CHECK(address_text(a) == a.to_string());
        }
    }
    CHECK(address_text(net::ip::make_address("::1")) == "::1");
    CHECK(address_text(net::ip::make_address("2001:db8::7")) == "2001:db8::7");
    CHECK(endpoint_text({net::ip::make_address("127.0.0.1"), 8080}) == "127.0.0.1:8080");
    CHECK(endpoint_text({net::ip::make_address("::1"), 443}) == "[::1]:443");
    CHECK(endpoint_text({net::ip::make_address("0.0.0.0"), 0}) == "0.0.0.0:0");
}

TEST_CASE("an IPv4-mapped IPv6 address is shown as the IPv4 address it maps", "[address]") {
    CHECK(address_text(edge522::unmapped(net::ip::make_address("::ffff:127.0.0.9"))) == "127.0.0.9");
    CHECK(edge522::unmapped(net::ip::make_address("::ffff:127.0.0.9")).is_v4());
    CHECK(address_text(edge522::unmapped(net::ip::make_address("::1"))) == "::1");
    CHECK(address_text(edge522::unmapped(net::ip::make_address("10.0.0.1"))) == "10.0.0.1");
}
