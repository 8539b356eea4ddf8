#pragma once
// HTTP/1.1 message heads and chunk framing written straight into one contiguous buffer. Beast's
// serializer hands the kernel an iovec per field piece and costs more to iterate than the proxying
// it wraps; a head is a few hundred bytes, so one append pass and one buffer win (see bench/).

#include <boost/beast/http/message.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace edge522::wire {

// "GET /x HTTP/1.1\r\nName: value\r\n...\r\n"
void append_request_head(std::string& out, boost::beast::http::request_header<> const& req);

// "HTTP/1.1 522 Connection Timed Out\r\nName: value\r\n...\r\n"
void append_response_head(std::string& out, boost::beast::http::response_header<> const& res);

// Writes "<hex size>\r\n" into `buf` (at least 20 bytes); returns its length.
std::size_t chunk_prefix(char* buf, std::size_t size) noexcept;

// The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), formatted at most once a
// second per thread; the view stays valid until the next call on the same thread.
std::string_view http_date_now() noexcept;

inline constexpr std::string_view crlf = "\r\n";
inline constexpr std::string_view last_chunk = "0\r\n\r\n";

} // namespace edge522::wire
