#pragma once
// Small pieces of the wire format the edge writes by hand: a chunk's size line and the Date value.
// (The heads themselves: forward_headers.hpp for relayed messages, error_page.hpp for the edge's
// own answers.)

#include <cstddef>
#include <string_view>

namespace edge522::wire {

// Writes "<hex size>\r\n" into `buf` (at least 20 bytes); returns its length.
std::size_t chunk_prefix(char* buf, std::size_t size) noexcept;

// The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), formatted at most once a
// second per thread; the view stays valid until the next call on the same thread.
std::string_view http_date_now() noexcept;

inline constexpr std::string_view crlf = "\r\n";

} // namespace edge522::wire
