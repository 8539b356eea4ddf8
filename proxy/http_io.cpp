#include "proxy/http_io.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <span>
#include <stdexcept>

namespace edge522 {

namespace net = boost::asio;
namespace http = boost::beast::http;

namespace {

// Body reads ask for at least this much room (heads: head_chunk, in http_io.hpp).
constexpr std::size_t read_chunk = 16 * 1024;

std::string_view view(boost::beast::flat_buffer const& buf) noexcept {
    auto d = buf.data();
    return {static_cast<char const*>(d.data()), d.size()};
}

// Room for the next read, within max_size; 0 when the buffer is full.
net::mutable_buffer room(boost::beast::flat_buffer& buf, std::size_t chunk = read_chunk) {
    std::size_t const free = buf.max_size() - buf.size();
    if (free == 0) return {};
    std::size_t const want = std::min(free, std::max({chunk, buf.capacity() - buf.size(), buf.size()}));
    return buf.prepare(want);  // within max_size: does not throw length_error
}

// "HTTP/1.1 200\r\n": RFC 9112 wants a SP before the (empty) reason phrase; servers omit it and
// Beast rejects it. Inserts the SP, once the status line is complete.
void repair_status_line(boost::beast::flat_buffer& buf, bool& checked) {
    auto const v = view(buf);
    auto const eol = v.find('\n');
    if (eol == std::string_view::npos) return;
    checked = true;
    std::string_view line = v.substr(0, eol);
    if (line.ends_with('\r')) line.remove_suffix(1);
    // "HTTP/d.d ddd" exactly: 12 bytes.
    if (line.size() != 12 || !line.starts_with("HTTP/") || line[8] != ' ') return;
    for (std::size_t i = 9; i < 12; ++i)
        if (line[i] < '0' || line[i] > '9') return;
    if (buf.size() == buf.max_size()) return;  // no room: the parser reports it
    buf.commit(net::buffer_copy(buf.prepare(1), net::buffer(" ", 1)));
    auto* p = static_cast<char*>(buf.data().data());
    std::memmove(p + 13, p + 12, buf.size() - 13);
    p[12] = ' ';
}

// One step of a head read on what `buf` holds: true when `r` is final (the head parsed, or
// failed), false when more bytes are needed.
template <class Parser>
bool head_from_buffer(boost::beast::flat_buffer& buf, Parser& parser, std::size_t limit, bool response,
                      bool& status_checked, head_result& r) {
    for (;;) {
        if (!response && !parser.got_some()) {
            // RFC 9112 2.2: empty lines before a request line are ignored (a client's stray CRLF
            // after a body); Beast's parser would call them a bad method. They are not bytes of
            // the head either: a client that sends only them and closes (or times out) gets no
            // answer, as from nginx. The client header deadline bounds how long that may go on.
            auto const v = view(buf);
            buf.consume(std::min(v.find_first_not_of("\r\n"), v.size()));
        }
        if (buf.size() == 0) return false;
        r.bytes = std::max(r.bytes, buf.size());
        // Only the head is scanned: body bytes may follow it in the buffer.
        auto v = view(buf);
        if (auto const end = v.find("\r\n\r\n"); end != std::string_view::npos) v = v.substr(0, end);
        if (longest_line(v.substr(0, std::min(v.size(), limit + 2))) > max_field_line) {
            r.status = head_status::field_too_large;
            return true;
        }
        if (!status_checked) repair_status_line(buf, status_checked);
        boost::system::error_code ec;
        std::size_t const n = put_nothrow(parser, buf.data(), ec);
        buf.consume(n);
        if (!ec && parser.is_header_done()) return true;
        if (ec && ec != http::error::need_more) {
            r.status = ec == http::error::header_limit ? head_status::too_large : head_status::error;
            r.ec = ec;
            return true;
        }
        if (n > 0) continue;  // the start line parsed: the fields next
        if (buf.size() >= limit) {
            r.status = head_status::too_large;
            return true;
        }
        return false;
    }
}

template <class Parser>
task<head_result> read_head_impl(transport& t, boost::beast::flat_buffer& buf, Parser& parser,
                                 std::size_t limit, bool response, head_result so_far) {
    head_result r = so_far;  // (a local: GCC 12 and assignments to a coroutine's parameters)
    bool status_checked = !response;
    for (;;) {
        if (head_from_buffer(buf, parser, limit, response, status_checked, r)) co_return r;
        auto space = room(buf, head_chunk);
        if (space.size() == 0) {
            r.status = head_status::too_large;
            co_return r;
        }
        auto [ec, n] = co_await t.async_read_some(space, use_nothrow);
        if (ec) {
            if (is_end(ec) && buf.size() == 0 && r.bytes == 0) {
                r.status = head_status::closed;
            } else {
                r.status = head_status::error;
                r.ec = is_end(ec) ? http::error::partial_message : ec;
            }
            co_return r;
        }
        buf.commit(n);
    }
}

} // namespace

std::size_t longest_line(std::string_view data) noexcept {
    std::size_t longest = 0;
    while (!data.empty()) {
        auto const* nl = static_cast<char const*>(std::memchr(data.data(), '\n', data.size()));
        std::size_t const len = nl ? static_cast<std::size_t>(nl - data.data()) : data.size();
        longest = std::max(longest, len);
        if (!nl) break;
        data.remove_prefix(len + 1);
    }
    return longest;
}

template <class Parser>
std::size_t put_nothrow(Parser& parser, net::const_buffer data, boost::system::error_code& ec) noexcept {
    try {
        return parser.put(data, ec);
    } catch (std::length_error const&) {
        ec = http::error::header_limit;  // a field over Beast's 64 KiB (e.g. in a trailer)
    } catch (std::bad_alloc const&) {
        ec = http::error::buffer_overflow;
    } catch (...) {
        ec = http::error::bad_value;
    }
    return 0;
}

bool read_buffered_head(boost::beast::flat_buffer& buf, request_parser& parser, std::size_t limit, head_result& r) {
    bool status_checked = true;  // a request has no status line
    return head_from_buffer(buf, parser, limit, false, status_checked, r);
}

task<head_result> read_head(transport& t, boost::beast::flat_buffer& buf, request_parser& parser,
                            std::size_t limit, head_result so_far) {
    return read_head_impl(t, buf, parser, limit, false, so_far);
}

task<head_result> read_head(transport& t, boost::beast::flat_buffer& buf, response_parser& parser,
                            std::size_t limit) {
    return read_head_impl(t, buf, parser, limit, true, head_result{});
}

bool body_buffered(response_parser const& parser, boost::beast::flat_buffer const& buf, std::size_t room) noexcept {
    auto const remaining = parser.content_length_remaining();
    return parser.is_header_done() && !parser.is_done() && remaining && *remaining <= buf.size() && *remaining <= room;
}

std::size_t take_buffered_body(boost::beast::flat_buffer& buf, response_parser& parser, char* into, std::size_t room,
                               boost::system::error_code& ec) noexcept {
    auto& body = parser.get().body();
    body.data = into;
    body.size = room;
    ec = {};
    buf.consume(put_nothrow(parser, buf.data(), ec));
    if (!ec && !parser.is_done()) ec = http::error::partial_message;  // body_buffered() said it was all there
    return room - body.size;
}

template <class Parser>
task<boost::system::error_code> read_body_some(transport& t, boost::beast::flat_buffer& buf,
                                               Parser& parser) {
    auto& body = parser.get().body();
    std::size_t const room_before = body.size;
    for (;;) {
        if (buf.size() > 0) {
            boost::system::error_code ec;
            std::size_t const n = put_nothrow(parser, buf.data(), ec);
            buf.consume(n);
            if (ec == http::error::need_buffer) co_return boost::system::error_code{};
            if (ec && ec != http::error::need_more) co_return ec;
            if (parser.is_done() || body.size < room_before) co_return boost::system::error_code{};
            if (!ec && n > 0) continue;  // a chunk header or the like: parse on
        } else if (parser.is_done()) {
            co_return boost::system::error_code{};
        }
        auto space = room(buf);
        if (space.size() == 0) co_return http::error::header_limit;  // e.g. endless trailers
        auto [ec, n] = co_await t.async_read_some(space, use_nothrow);
        if (is_end(ec)) {
            // The close ends a body delimited by it; anything else ends early.
            boost::system::error_code pec;
            parser.put_eof(pec);
            co_return pec;
        }
        if (ec) co_return ec;
        buf.commit(n);
    }
}

template <class ConstBuffers>
task<std::tuple<boost::system::error_code, std::size_t>> write_rest(transport& t, ConstBuffers b,
                                                                    std::size_t done) {
    boost::beast::buffers_suffix<ConstBuffers> rest(b);
    rest.consume(done);
    auto [ec, n] = co_await net::async_write(t, rest, use_nothrow);
    co_return std::tuple{ec, done + n};
}

template task<std::tuple<boost::system::error_code, std::size_t>> write_rest(transport&, net::const_buffer,
                                                                                      std::size_t);
template task<std::tuple<boost::system::error_code, std::size_t>>
write_rest(transport&, std::span<net::const_buffer const>, std::size_t);
template std::size_t put_nothrow(request_parser&, net::const_buffer, boost::system::error_code&) noexcept;
template std::size_t put_nothrow(response_parser&, net::const_buffer, boost::system::error_code&) noexcept;
template task<boost::system::error_code> read_body_some(transport&, boost::beast::flat_buffer&,
                                                                  request_parser&);
template task<boost::system::error_code> read_body_some(transport&, boost::beast::flat_buffer&,
                                                                  response_parser&);

} // namespace edge522
