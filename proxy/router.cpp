#include "proxy/router.hpp"

namespace edge522 {

std::string host_without_port(std::string_view h) {
    std::string_view name = h;
    if (!h.empty() && h.front() == '[') {
        auto close = h.find(']');
        name = close == std::string_view::npos ? h : h.substr(0, close + 1);
    } else if (auto colon = h.rfind(':'); colon != std::string_view::npos) {
        name = h.substr(0, colon);
    }
    while (!name.empty() && name.back() == '.') name.remove_suffix(1);  // "example.com." == "example.com"
    std::string out(name);
    // ASCII only (a name's other bytes are kept as they are), without the C library's locale lookup.
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool host_matches(std::string_view pattern, std::string_view host) noexcept {
    if (pattern == "*") return true;
    if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
        auto suffix = pattern.substr(1);  // ".example.test"
        return host.size() > suffix.size() && host.ends_with(suffix);
    }
    return pattern == host;
}

config::origin const* router::route(std::string_view host) const noexcept {
    for (auto const& o : cfg_.origins)
        for (auto const& p : o.hosts)
            if (host_matches(p, host)) return &o;
    return nullptr;
}

} // namespace edge522
