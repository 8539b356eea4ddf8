#include "proxy/origin_pool.hpp"

#include <algorithm>

namespace edge522 {

void origin_pool::watch(std::shared_ptr<idle> const& c) {
    // Readable while parked means the origin closed (FIN), reset, or sent bytes nobody asked for:
    // the connection cannot carry a request any more. A read, not a wait: Asio tries a read at
    // once, so a FIN that arrived before the connection was parked (an event epoll reported
    // already) is seen now, not at the next event. The completion holds the entry; a taken or
    // cleared entry is marked gone first and its completion does nothing.
    c->watched = true;
    c->conn.socket().async_read_some(boost::asio::buffer(&c->stray, 1), [c](boost::system::error_code, std::size_t) {
        if (c->gone) return;
        c->gone = true;
        c->conn.close();
        std::erase_if(*c->owner, [p = c.get()](auto const& e) { return e.get() == p; });
    });
}

std::optional<transport> origin_pool::take(std::string const& key) {
    auto it = idle_.find(key);
    if (it == idle_.end()) return std::nullopt;
    auto& v = it->second;
    auto const now = clock::now();
    while (!v.empty()) {
        auto c = std::move(v.back());
        v.pop_back();
        c->gone = true;
        if (c->watched) c->conn.cancel();  // the watch completes with operation_aborted and does nothing
        if (c->expires > now) return std::move(c->conn);
        c->conn.close();
    }
    return std::nullopt;
}

void origin_pool::put(std::string const& key, transport t, std::chrono::milliseconds idle_timeout) {
    if (idle_timeout.count() <= 0) {
        t.close();
        return;
    }
    auto& v = idle_[key];
    if (v.size() >= max_idle_) {
        t.close();
        return;
    }
    auto c = std::make_shared<idle>(std::move(t), v);
    c->expires = clock::now() + idle_timeout;
    v.push_back(std::move(c));  // watched from the next sweep (see the header)
}

void origin_pool::sweep() {
    auto const now = clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
        std::erase_if(it->second, [&](auto const& c) {
            if (c->expires > now) {
                if (!c->watched) watch(c);
                return false;
            }
            c->gone = true;
            c->conn.close();
            return true;
        });
        it = it->second.empty() ? idle_.erase(it) : std::next(it);
    }
}

void origin_pool::clear() {
    for (auto& [_, v] : idle_)
        for (auto& c : v) {
            c->gone = true;
            c->conn.close();
        }
    idle_.clear();
}

std::size_t origin_pool::size() const noexcept {
    std::size_t n = 0;
    for (auto const& [_, v] : idle_) n += v.size();
    return n;
}

} // namespace edge522
