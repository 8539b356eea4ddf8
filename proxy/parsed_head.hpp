#pragma once
// A message head as the edge's parsers store it (request_parser.hpp, response_parser.hpp): Beast's
// basic_parser does the parsing and its checks (the smuggling checks stay Beast's); the start line
// and the fields are copied into one buffer, in arrival order, with no per-field allocation and no
// index. The edge walks a head's few fields in order, a few times at most: Beast's parser<>
// allocated every field and filed it in a tree (a fifth of a keep-alive request's instructions,
// bench/RESULTS.md round 8). Trailer fields follow the head's. The body goes where body() points,
// as with Beast's buffer_body.
//
// Bounded: a field line by max_field_line, the head by the parser's header_limit(), the trailers
// by the buffer the caller feeds from. Runs on the session's worker thread.

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string_view>

namespace edge522 {

// The longest header line (name, colon and value) the edge accepts or builds: Beast's limit.
inline constexpr std::size_t max_field_line = 65'000;

// One field as the parser received it; the accessors are those of Beast's fields::value_type.
struct field_ref {
    boost::beast::http::field id;
    std::string_view name_text;
    std::string_view value_text;

    boost::beast::http::field name() const noexcept { return id; }
    std::string_view name_string() const noexcept { return name_text; }
    std::string_view value() const noexcept { return value_text; }
};

// The fields (then trailers) in order, the start line's texts, and the body's buffer.
class parsed_head {
public:
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
        friend class parsed_head;
        const_iterator(parsed_head const* owner, std::size_t i) noexcept : owner_(owner), i_(i) {}
        parsed_head const* owner_ = nullptr;
        std::size_t i_ = 0;
    };
    const_iterator begin() const noexcept { return {this, 0}; }
    const_iterator end() const noexcept { return {this, slots_.size()}; }
    std::size_t field_count() const noexcept { return slots_.size(); }
    field_ref at(std::size_t i) const noexcept {
        auto const& s = slots_[i];
        return {s.id, text(s.at, s.name_len), text(s.at + s.name_len, s.value_len)};
    }

    // Where the next body bytes go: data and size, consumed as the parser fills them.
    boost::beast::http::buffer_body::value_type& body() noexcept { return body_; }

protected:
    template <bool isRequest, class Message>
    friend class head_parser;
    using error_code = boost::system::error_code;

    // The start line's texts (a reason phrase; a method and a target), stored first: at 0 and at
    // a.size(), with room for `field_bytes` more (the fields' first allocation). Called once,
    // before any field.
    void start(std::string_view a, std::string_view b, std::size_t field_bytes);
    std::string_view text(std::size_t at, std::size_t len) const noexcept { return {bytes_.get() + at, len}; }

    // The parsers' callbacks (basic_parser's on_field_impl and on_body_impl / on_chunk_body_impl).
    // A field line over max_field_line is header_limit (the head's lines are checked before they
    // are parsed, read_head; a trailer's only here).
    void add_field(boost::beast::http::field name, std::string_view name_string, std::string_view value,
                   error_code& ec);
    // As Beast's buffer_body: copies what fits where body() points; need_buffer when it is full.
    std::size_t put_body(std::string_view body, error_code& ec) noexcept;

private:
    struct slot {
        boost::beast::http::field id;
        std::uint32_t at;
        std::uint32_t name_len;
        std::uint32_t value_len;
    };
    // Appends `a` then `b` to bytes_, growing it by doubling: one capacity check and two copies
    // (std::string's appends cost three times that per field).
    void append(std::string_view a, std::string_view b);

    std::unique_ptr<char[]> bytes_;  // the start line's texts, then each field's name and value
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
    // A client's request has a few fields, an origin's response (nginx's) five or six: up to 8 need
    // no allocation (a pending request holds its parser: bench/pending.sh).
    boost::container::small_vector<slot, 8> slots_;
    boost::beast::http::buffer_body::value_type body_{};
};

// Field lookups by walking a head's few fields in order (Beast's basic_fields searched a tree whose
// every step compared names case-insensitively). The first value of `name` ("" when absent);
// whether there is one; the first value and how many fields carry the name, in one walk.
inline std::string_view first_value(parsed_head const& f, boost::beast::http::field name) noexcept {
    for (auto const& x : f)
        if (x.name() == name) return x.value();
    return {};
}
inline bool has_field(parsed_head const& f, boost::beast::http::field name) noexcept {
    for (auto const& x : f)
        if (x.name() == name) return true;
    return false;
}
struct field_lookup {
    std::string_view first;
    std::size_t count = 0;
};
inline field_lookup lookup_field(parsed_head const& f, boost::beast::http::field name) noexcept {
    field_lookup r;
    for (auto const& x : f)
        if (x.name() == name && r.count++ == 0) r.first = x.value();
    return r;
}
// The same by name text, compared case-insensitively (a name Beast has no enumerator for).
field_lookup lookup_field(parsed_head const& f, std::string_view name) noexcept;

// What the request and response parsers share: everything but the start line, which each stores
// in its own message type (on_request_impl / on_response_impl).
template <bool isRequest, class Message>
class head_parser : public boost::beast::http::basic_parser<isRequest> {
public:
    Message& get() noexcept { return m_; }
    Message const& get() const noexcept { return m_; }

protected:
    using error_code = boost::system::error_code;
    using string_view = boost::beast::string_view;

    void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                       error_code& ec) final {
        m_.add_field(name, name_string, value, ec);
    }
    void on_header_impl(error_code& ec) final { ec = {}; }
    void on_body_init_impl(boost::optional<std::uint64_t> const&, error_code& ec) final { ec = {}; }
    std::size_t on_body_impl(string_view body, error_code& ec) final { return m_.put_body(body, ec); }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code& ec) final { ec = {}; }
    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) final {
        return m_.put_body(body, ec);
    }
    void on_finish_impl(error_code& ec) final { ec = {}; }

    Message m_;
};

} // namespace edge522
