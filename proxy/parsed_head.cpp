#include "proxy/parsed_head.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cstring>

namespace edge522 {

namespace http = boost::beast::http;

void parsed_head::append(std::string_view a, std::string_view b) {
    std::size_t const n = a.size() + b.size();
    if (capacity_ - size_ < n) {
        std::size_t const cap = std::max(capacity_ * 2, size_ + n);
        auto grown = std::make_unique_for_overwrite<char[]>(cap);
        if (size_ > 0) std::memcpy(grown.get(), bytes_.get(), size_);
        bytes_ = std::move(grown);
        capacity_ = cap;
    }
    if (!a.empty()) std::memcpy(bytes_.get() + size_, a.data(), a.size());
    if (!b.empty()) std::memcpy(bytes_.get() + size_ + a.size(), b.data(), b.size());
    size_ += n;
}

void parsed_head::start(std::string_view a, std::string_view b, std::size_t field_bytes) {
    std::size_t const cap = a.size() + b.size() + field_bytes;
    bytes_ = std::make_unique_for_overwrite<char[]>(cap);
    capacity_ = cap;
    append(a, b);
}

void parsed_head::add_field(http::field name, std::string_view name_string, std::string_view value, error_code& ec) {
    if (name_string.size() + value.size() + 2 > max_field_line) {
        ec = http::error::header_limit;
        return;
    }
    // Copied: Beast hands an unfolded obs-fold value in a scratch buffer it reuses. The head is
    // bounded by header_limit() and the trailers by the caller's buffer, so the 32-bit offsets hold.
    auto const at = size_;
    append(name_string, value);
    slots_.push_back({name, static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(name_string.size()),
                      static_cast<std::uint32_t>(value.size())});
    ec = {};
}

std::size_t parsed_head::put_body(std::string_view body, error_code& ec) noexcept {
    auto& b = body_;
    if (b.data == nullptr) {
        ec = http::error::need_buffer;
        return 0;
    }
    std::size_t const n = std::min(b.size, body.size());
    if (n > 0) std::memcpy(b.data, body.data(), n);
    b.data = static_cast<char*>(b.data) + n;
    b.size -= n;
    ec = n == body.size() ? error_code{} : error_code(http::error::need_buffer);
    return n;
}

field_lookup lookup_field(parsed_head const& f, std::string_view name) noexcept {
    field_lookup r;
    for (auto const& x : f)
        if (boost::beast::iequals(x.name_string(), name) && r.count++ == 0) r.first = x.value();
    return r;
}

} // namespace edge522
