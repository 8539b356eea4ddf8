#pragma once
// The parser of an origin's response: Beast's basic_parser (its framing, its validation: the
// smuggling checks stay Beast's), with the message stored the way the edge uses it. The edge only
// walks a response head's few fields in order, once, to write the client's head: the status line
// and the fields are copied into one buffer, in arrival order, with no per-field allocation and no
// index (Beast's parser<> allocates every field and files it in a tree: a fifth of a keep-alive
// request's instructions went there, bench/RESULTS.md round 8). Trailer fields follow the head's.
// The body goes where body() points, as with Beast's buffer_body.
//
// One parser per message (as with Beast's parser<>). Bounded: the head by header_limit(), the
// trailers by the buffer the caller feeds from. Runs on the session's worker thread.

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string_view>
#include <vector>

namespace edge522 {

// One field as the parser received it; the accessors are those of Beast's fields::value_type, so
// the field walks in http_io.hpp and forward_headers.hpp serve both.
struct field_ref {
    boost::beast::http::field id;
    std::string_view name_text;
    std::string_view value_text;

    boost::beast::http::field name() const noexcept { return id; }
    std::string_view name_string() const noexcept { return name_text; }
    std::string_view value() const noexcept { return value_text; }
};

// A response as relayed: status line, fields (then trailers) in order, and the body's buffer.
class relayed_response {
public:
    unsigned result_int() const noexcept { return status_; }
    boost::beast::http::status result() const noexcept { return boost::beast::http::int_to_status(status_); }
    unsigned version() const noexcept { return version_; }
    std::string_view reason() const noexcept { return {bytes_.get(), reason_len_}; }

    class const_iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = field_ref;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = field_ref;

        const_iterator() = default;
        field_ref operator*() const noexcept { return owner_->at(i_); }
        const_iterator& operator++() noexcept {
            ++i_;
            return *this;
        }
        const_iterator operator++(int) noexcept {
            auto old = *this;
            ++i_;
            return old;
        }
        bool operator==(const_iterator const& o) const noexcept { return i_ == o.i_; }

    private:
        friend class relayed_response;
        const_iterator(relayed_response const* owner, std::size_t i) noexcept : owner_(owner), i_(i) {}
        relayed_response const* owner_ = nullptr;
        std::size_t i_ = 0;
    };
    const_iterator begin() const noexcept { return {this, 0}; }
    const_iterator end() const noexcept { return {this, slots_.size()}; }
    std::size_t field_count() const noexcept { return slots_.size(); }
    field_ref at(std::size_t i) const noexcept {
        auto const& s = slots_[i];
        return {s.id, {bytes_.get() + s.at, s.name_len}, {bytes_.get() + s.at + s.name_len, s.value_len}};
    }

    // Where the next body bytes go: data and size, consumed as the parser fills them.
    boost::beast::http::buffer_body::value_type& body() noexcept { return body_; }

private:
    friend class response_parser;
    struct slot {
        boost::beast::http::field id;
        std::uint32_t at;
        std::uint32_t name_len;
        std::uint32_t value_len;
    };
    // Appends `a` then `b` to bytes_, growing it by doubling: one capacity check and two copies
    // (std::string's appends cost three times that per field).
    void append(std::string_view a, std::string_view b);

    std::unique_ptr<char[]> bytes_;  // the reason phrase, then each field's name and value
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
    std::vector<slot> slots_;
    boost::beast::http::buffer_body::value_type body_{};
    std::uint32_t reason_len_ = 0;
    unsigned short status_ = 0;
    unsigned char version_ = 0;
};

class response_parser : public boost::beast::http::basic_parser<false> {
public:
    response_parser() = default;
    relayed_response& get() noexcept { return m_; }
    relayed_response const& get() const noexcept { return m_; }

private:
    using error_code = boost::system::error_code;
    using string_view = boost::beast::string_view;

    void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code& ec) override;
    void on_response_impl(int code, string_view reason, int version, error_code& ec) override;
    void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                       error_code& ec) override;
    void on_header_impl(error_code& ec) override;
    void on_body_init_impl(boost::optional<std::uint64_t> const& content_length, error_code& ec) override;
    std::size_t on_body_impl(string_view body, error_code& ec) override;
    void on_chunk_header_impl(std::uint64_t size, string_view extensions, error_code& ec) override;
    std::size_t on_chunk_body_impl(std::uint64_t remain, string_view body, error_code& ec) override;
    void on_finish_impl(error_code& ec) override;

    relayed_response m_;
};

} // namespace edge522
