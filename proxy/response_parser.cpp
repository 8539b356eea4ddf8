#include "proxy/response_parser.hpp"

#include "proxy/http_io.hpp"

#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cstring>

namespace edge522 {

namespace http = boost::beast::http;

namespace {

// Room for a typical origin head (nginx's is about 150 bytes of fields) in one allocation each.
constexpr std::size_t initial_bytes = 512;
constexpr std::size_t initial_fields = 12;

} // namespace

void response_parser::on_request_impl(http::verb, string_view, string_view, int, error_code& ec) {
    ec = http::error::bad_version;  // never called: this parser reads responses
}

void relayed_response::append(std::string_view a, std::string_view b) {
    std::size_t const n = a.size() + b.size();
    if (capacity_ - size_ < n) {
        std::size_t const cap = std::max({initial_bytes, capacity_ * 2, size_ + n});
        auto grown = std::make_unique_for_overwrite<char[]>(cap);
        if (size_ > 0) std::memcpy(grown.get(), bytes_.get(), size_);
        bytes_ = std::move(grown);
        capacity_ = cap;
    }
    if (!a.empty()) std::memcpy(bytes_.get() + size_, a.data(), a.size());
    if (!b.empty()) std::memcpy(bytes_.get() + size_ + a.size(), b.data(), b.size());
    size_ += n;
}

void response_parser::on_response_impl(int code, string_view reason, int version, error_code& ec) {
    m_.slots_.reserve(initial_fields);
    m_.append(reason, {});
    m_.reason_len_ = static_cast<std::uint32_t>(reason.size());
    m_.status_ = static_cast<unsigned short>(code);
    m_.version_ = static_cast<unsigned char>(version);
    ec = {};
}

void response_parser::on_field_impl(http::field name, string_view name_string, string_view value, error_code& ec) {
    // No field the edge relays is longer than it would build one: the head's lines are checked
    // before they are parsed (read_head), a trailer's only here.
    if (name_string.size() + value.size() + 2 > max_field_line) {
        ec = http::error::header_limit;
        return;
    }
    // Copied: Beast hands an unfolded obs-fold value in a scratch buffer it reuses. The head is
    // bounded by header_limit() and the trailers by the caller's buffer, so the 32-bit offsets hold.
    auto const at = m_.size_;
    m_.append(name_string, value);
    m_.slots_.push_back({name, static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(name_string.size()),
                         static_cast<std::uint32_t>(value.size())});
    ec = {};
}

void response_parser::on_header_impl(error_code& ec) { ec = {}; }

void response_parser::on_body_init_impl(boost::optional<std::uint64_t> const&, error_code& ec) { ec = {}; }

std::size_t response_parser::on_body_impl(string_view body, error_code& ec) {
    // As Beast's buffer_body: copy what fits; need_buffer when the caller's room is used up.
    auto& b = m_.body_;
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

void response_parser::on_chunk_header_impl(std::uint64_t, string_view, error_code& ec) { ec = {}; }

std::size_t response_parser::on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) {
    return on_body_impl(body, ec);
}

void response_parser::on_finish_impl(error_code& ec) { ec = {}; }

} // namespace edge522
