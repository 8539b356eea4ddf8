#pragma once
// Host-based routing: the first [[origins]] whose `hosts` pattern matches wins. Built once per
// config (immutable, so every worker can share it read-only).

#include "config/config.hpp"

#include <string>
#include <string_view>

namespace edge522 {

// "Example.COM:8080" -> "example.com"; "[::1]:8080" -> "[::1]". No allocation beyond the result.
std::string host_without_port(std::string_view host_header);

// pattern: "*" matches everything; "*.example.test" matches any name ending in ".example.test"
// (not the apex "example.test", as with Cloudflare's wildcard records); anything else is exact.
// Both sides lowercase (the config lowercases patterns; callers lowercase the host).
bool host_matches(std::string_view pattern, std::string_view host) noexcept;

class router {
public:
    explicit router(config::config const& cfg) : cfg_(cfg) {}

    // The origin for `host` (lowercase, without port), or nullptr when none matches (-> 530/1001).
    config::origin const* route(std::string_view host) const noexcept;

private:
    config::config const& cfg_;
};

} // namespace edge522
