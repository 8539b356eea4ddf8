#include "proxy/wire.hpp"

#include <ctime>

namespace edge522::wire {

namespace {

void append_version(std::string& out, unsigned version) {
    out += "HTTP/";
    out += static_cast<char>('0' + version / 10);
    out += '.';
    out += static_cast<char>('0' + version % 10);
}

void append_fields(std::string& out, boost::beast::http::fields const& f) {
    for (auto const& field : f) {
        out += field.name_string();
        out += ": ";
        out += field.value();
        out += "\r\n";
    }
    out += "\r\n";
}

} // namespace

void append_request_head(std::string& out, boost::beast::http::request_header<> const& req) {
    out += req.method_string();
    out += ' ';
    out += req.target();
    out += ' ';
    append_version(out, req.version());
    out += "\r\n";
    append_fields(out, req);
}

void append_response_head(std::string& out, boost::beast::http::response_header<> const& res) {
    append_version(out, res.version());
    unsigned const code = res.result_int();
    out += ' ';
    out += static_cast<char>('0' + code / 100 % 10);
    out += static_cast<char>('0' + code / 10 % 10);
    out += static_cast<char>('0' + code % 10);
    out += ' ';
    out += res.reason();
    out += "\r\n";
    append_fields(out, res);
}

std::string_view http_date_now() noexcept {
    thread_local std::time_t cached_second = -1;
    thread_local char text[32];
    thread_local std::size_t len = 0;
    std::time_t const now = std::time(nullptr);
    if (now != cached_second) {
        std::tm tm{};
        ::gmtime_r(&now, &tm);
        len = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);  // C locale names
        cached_second = now;
    }
    return {text, len};
}

std::size_t chunk_prefix(char* buf, std::size_t size) noexcept {
    static constexpr char hex[] = "0123456789abcdef";
    char tmp[16];
    std::size_t n = 0;
    do {
        tmp[n++] = hex[size & 0xf];
        size >>= 4;
    } while (size != 0);
    for (std::size_t i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
    buf[n] = '\r';
    buf[n + 1] = '\n';
    return n + 2;
}

} // namespace edge522::wire
