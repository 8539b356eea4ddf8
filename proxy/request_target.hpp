#pragma once
// What a request asks for, decided once so that routing, access rules and the origin all see the
// same thing (RFC 9112 3.2): the target's authority wins over Host (absolute-form), the origin
// gets origin-form with the matching Host, and a Host that is not a valid host[:port] is refused.
// Pure function of the parsed head; the views point into it.

#include "proxy/failure.hpp"
#include "proxy/request_parser.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace edge522 {

struct request_target {
    std::string host;             // lowercase, without port: for routing, rules, pages and logs
    std::string_view authority;   // the Host the origin gets ("" only for HTTP/1.0 without Host)
    std::string_view target;      // what the origin gets: origin-form, or "*" for OPTIONS
    std::string target_buf;       // set instead when the origin-form had to be built ("http://h?q")
    bool absolute_form = false;
    bool valid = false;
    failure error = failure::bad_request;  // what to answer when not valid
    bool ok() const noexcept { return valid; }
    std::string_view origin_target() const noexcept { return target_buf.empty() ? target : std::string_view(target_buf); }
};

// `max_url`: the longest target accepted (-> 414 beyond). When the result is not ok(), `why` says
// why (an out-parameter: the target is held as long as its exchange, the reason only until logged).
request_target resolve_target(received_request const& req, std::size_t max_url, std::string& why);

// Judges a message's Transfer-Encoding fields (a request's or an origin response's; RFC 9112 6.1,
// 7): "" when acceptable (absent, or a list of known codings ending in exactly one chunked);
// otherwise why, with `error` set to 400 (not a coding list at all) or 501 (a coding the edge does
// not know, or one after chunked).
std::string judge_transfer_encoding(parsed_head const& fields, failure& error);

// host[:port] per RFC 9110 7.2 / RFC 3986 (reg-name, IPv4, [IPv6]); no userinfo, port <= 65535.
bool valid_host_port(std::string_view authority) noexcept;

} // namespace edge522
