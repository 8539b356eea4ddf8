#include "proxy/address_text.hpp"

#include <charconv>

namespace edge522 {

namespace net = boost::asio;

net::ip::address unmapped(net::ip::address const& a) noexcept {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
    return a;
}

void append_address(std::string& out, net::ip::address const& a) {
    if (a.is_v6()) {
        out += a.to_v6().to_string();
        return;
    }
    auto const b = a.to_v4().to_bytes();
    char text[16];  // "255.255.255.255"
    std::size_t n = 0;
    for (unsigned char const byte : b) {
        if (n > 0) text[n++] = '.';
        unsigned const v = byte;
        if (v >= 100) text[n++] = static_cast<char>('0' + v / 100);
        if (v >= 10) text[n++] = static_cast<char>('0' + v / 10 % 10);
        text[n++] = static_cast<char>('0' + v % 10);
    }
    out.append(text, n);
}

std::string address_text(net::ip::address const& a) {
    std::string out;
    append_address(out, a);
    return out;
}

std::string endpoint_text(net::ip::tcp::endpoint const& ep) {
    std::string out;
    auto const a = ep.address();
    if (a.is_v6()) out += '[';
    append_address(out, a);
    if (a.is_v6()) out += ']';
    char port[8];
    auto const end = std::to_chars(port, port + sizeof port, ep.port()).ptr;
    out += ':';
    out.append(port, end);
    return out;
}

} // namespace edge522
