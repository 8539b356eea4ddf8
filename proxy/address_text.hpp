#pragma once
// Addresses as text, for logs, pages, headers and metrics: "127.0.0.1", "::1", "[::1]:8080".
// IPv4 without inet_ntop, whose sprintf took ~1,700 instructions an address (twice per 522 answer).

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace edge522 {

// An IPv4-mapped IPv6 address as the IPv4 address it maps ("::ffff:192.0.2.1" -> 192.0.2.1).
boost::asio::ip::address unmapped(boost::asio::ip::address const& a) noexcept;

void append_address(std::string& out, boost::asio::ip::address const& a);
std::string address_text(boost::asio::ip::address const& a);
// "127.0.0.1:80", "[::1]:80".
std::string endpoint_text(boost::asio::ip::tcp::endpoint const& ep);

} // namespace edge522
