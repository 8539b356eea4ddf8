#pragma once
// The parser of a client's request: Beast's basic_parser (its framing, its validation: the
// smuggling checks stay Beast's), with the message stored as parsed_head.hpp describes: the
// request line and the fields copied into one buffer, in arrival order, no per-field allocation
// (Beast's parser<> allocated the start line and every field and filed each in a tree).
//
// One parser per message (as with Beast's parser<>). Runs on the session's worker thread.

#include "proxy/parsed_head.hpp"

#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <string_view>

namespace edge522 {

// A request as received: request line, fields (then trailers) in order, and the body's buffer.
// The accessors are those of Beast's request_header.
class received_request : public parsed_head {
public:
    boost::beast::http::verb method() const noexcept { return method_; }
    std::string_view method_string() const noexcept { return text(0, method_len_); }
    std::string_view target() const noexcept { return text(method_len_, target_len_); }
    unsigned version() const noexcept { return version_; }

private:
    friend class request_parser;
    std::uint32_t method_len_ = 0;
    std::uint32_t target_len_ = 0;
    boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
    unsigned char version_ = 0;
};

class request_parser : public head_parser<true, received_request> {
private:
    void on_request_impl(boost::beast::http::verb method, string_view method_str, string_view target, int version,
                         error_code& ec) final;
    void on_response_impl(int, string_view, int, error_code& ec) final;
};

} // namespace edge522
