#pragma once
// Reading HTTP/1.1 messages off a transport with Beast's parser, bounded and without exceptions.
//
// Beast's basic_fields stores names and values with 16-bit offsets and throws std::length_error for
// a field over 64 KiB; its parser would throw that out of a composed read operation and so out of
// io_context::run(), ending the process. So the edge does its own reads and feeds the parser with
// put(): a head is scanned for over-long lines before the parser sees it (a clean header_limit
// error), and every put() is fenced so that nothing Beast throws (a trailer field over 64 KiB, an
// allocation failure) leaves it: it becomes an error_code. Every read is bounded by the buffer's
// max_size; nothing here allocates beyond it.
//
// Runs on the session's worker thread.

#include "proxy/request_parser.hpp"
#include "proxy/response_parser.hpp"
#include "proxy/transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <cstddef>
#include <string_view>
#include <tuple>

namespace edge522 {

// Each head read asks for at least this much room (the first one too, see client_session.cpp):
// heads start small (most fit in 4 KiB, as nginx's 1 KiB client_header_buffer_size bets; the
// buffer grows by doubling when one does not).
inline constexpr std::size_t head_chunk = 4 * 1024;

// Why a head could not be read, beyond the parser's own error codes.
enum class head_status {
    ok,
    too_large,        // over the head limit (or the buffer's max_size)
    field_too_large,  // one line over max_field_line
    closed,           // EOF before any byte of this message
    error,            // the transport or the parser failed: see the error_code
};

struct head_result {
    head_status status = head_status::ok;
    boost::system::error_code ec;
    std::size_t bytes = 0;  // bytes of this head seen (0 = nothing arrived)
};

// Reads until `parser` has a complete head, or fails. `limit` bounds the head; the buffer's
// max_size must leave room for it. A response status line without a reason phrase
// ("HTTP/1.1 200\r\n", common in the wild) is accepted.
// A request head is often whole in the buffer already (its first bytes came with the readiness
// wake): read_buffered_head() parses what is there, without a coroutine; true when `r` is final,
// false when more bytes are needed: read_head() then goes on from `r`.
bool read_buffered_head(boost::beast::flat_buffer& buf, request_parser& parser, std::size_t limit, head_result& r);
task<head_result> read_head(transport& t, boost::beast::flat_buffer& buf,
                            request_parser& parser, std::size_t limit, head_result so_far = {});
task<head_result> read_head(transport& t, boost::beast::flat_buffer& buf,
                            response_parser& parser, std::size_t limit);

// A write is tried at once first (transport::write_now(): the whole of most writes, without a
// reactor operation); write_rest() writes what that left, `b` from byte `done` on, and returns the
// error and the bytes written in all, `done` included:
//     std::size_t n = t.write_now(b, ec);
//     if (!ec && n < net::buffer_size(b)) std::tie(ec, n) = co_await write_rest(t, b, n);
template <class ConstBuffers>
task<std::tuple<boost::system::error_code, std::size_t>> write_rest(transport& t, ConstBuffers b,
                                                                    std::size_t done);

// Feeds what `buf` holds to the parser (consuming what it took), reading more only when the parser
// needs it. For body reads: the parser's buffer_body must have room. Returns with at least one
// byte of body in the body buffer, the message done, or an error (need_buffer is not an error).
template <class Parser>
task<boost::system::error_code> read_body_some(transport& t, boost::beast::flat_buffer& buf,
                                               Parser& parser);

// Whether the rest of a length-delimited body is in `buf` already, and fits `room` bytes.
bool body_buffered(response_parser const& parser, boost::beast::flat_buffer const& buf, std::size_t room) noexcept;
// Parses that body into `into` (what body_buffered() said is there): its size, or an error.
std::size_t take_buffered_body(boost::beast::flat_buffer& buf, response_parser& parser, char* into, std::size_t room,
                               boost::system::error_code& ec) noexcept;

// parser.put() that never throws: anything Beast throws becomes an error code.
template <class Parser>
std::size_t put_nothrow(Parser& parser, boost::asio::const_buffer data, boost::system::error_code& ec) noexcept;

// The longest line in `data` (bytes between LFs, the last one possibly unfinished).
std::size_t longest_line(std::string_view data) noexcept;

} // namespace edge522
