#include "proxy/origin_pool.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace edge522 {

bool origin_pool::still_open(socket& s) noexcept {
    // An idle origin connection must have nothing to read: a FIN (0), data (a stray response) or an
    // error all mean it cannot carry a new request.
    char byte;
    auto fd = s.native_handle();
    ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::optional<origin_pool::socket> origin_pool::take(std::string const& server) {
    auto it = idle_.find(server);
    if (it == idle_.end()) return std::nullopt;
    auto& v = it->second;
    auto const now = clock::now();
    while (!v.empty()) {
        idle c = std::move(v.back());
        v.pop_back();
        if (c.expires > now && (now - c.parked < std::chrono::seconds(1) || still_open(c.sock)))
            return std::move(c.sock);
        boost::system::error_code ec;
        c.sock.close(ec);
    }
    return std::nullopt;
}

void origin_pool::put(std::string const& server, socket s,
                      std::chrono::milliseconds idle_timeout) {
    auto& v = idle_[server];
    if (idle_timeout.count() <= 0 || v.size() >= max_idle_) {
        boost::system::error_code ec;
        s.close(ec);
        return;
    }
    auto const now = clock::now();
    v.push_back(idle{std::move(s), now, now + idle_timeout});
}

void origin_pool::sweep() {
    auto const now = clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
        auto& v = it->second;
        std::erase_if(v, [&](idle& c) {
            if (c.expires > now) return false;
            boost::system::error_code ec;
            c.sock.close(ec);
            return true;
        });
        it = v.empty() ? idle_.erase(it) : std::next(it);
    }
}

void origin_pool::clear() {
    for (auto& [_, v] : idle_)
        for (auto& c : v) {
            boost::system::error_code ec;
            c.sock.close(ec);
        }
    idle_.clear();
}

std::size_t origin_pool::size() const noexcept {
    std::size_t n = 0;
    for (auto const& [_, v] : idle_) n += v.size();
    return n;
}

} // namespace edge522
