#pragma once
// The parser of an origin's response: Beast's basic_parser (its framing, its validation: the
// smuggling checks stay Beast's), with the message stored as parsed_head.hpp describes: the
// status line and the fields copied into one buffer, in arrival order, no per-field allocation.
//
// One parser per message (as with Beast's parser<>). Runs on the session's worker thread.

#include "proxy/parsed_head.hpp"

#include <boost/beast/http/status.hpp>

#include <cstdint>
#include <string_view>

namespace edge522 {

// A response as relayed: status line, fields (then trailers) in order, and the body's buffer.
class relayed_response : public parsed_head {
public:
    unsigned result_int() const noexcept { return status_; }
    boost::beast::http::status result() const noexcept { return boost::beast::http::int_to_status(status_); }
    unsigned version() const noexcept { return version_; }
    std::string_view reason() const noexcept { return text(0, reason_len_); }

private:
    friend class response_parser;
    std::uint32_t reason_len_ = 0;
    unsigned short status_ = 0;
    unsigned char version_ = 0;
};

class response_parser : public head_parser<false, relayed_response> {
private:
    void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code& ec) final;
    void on_response_impl(int code, string_view reason, int version, error_code& ec) final;
};

} // namespace edge522
