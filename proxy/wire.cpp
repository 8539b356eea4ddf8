#include "proxy/wire.hpp"

#include <ctime>

namespace edge522::wire {

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
