#pragma once
// Where a Cloudflare code gets decided. Every edge-generated answer starts as a typed `failure`
// (what the edge saw); ONE table (failure.cpp) maps it to status, reason phrase, Retry-After,
// error code/name/category and the page title. Nothing else in the code base picks a 52x number.

#include <boost/system/error_code.hpp>

#include <optional>
#include <string_view>

namespace edge522 {

enum class failure {
    // origin side (52x)
    invalid_response,           // 520: origin sent something that is not HTTP
    empty_response,             // 520: origin closed without a byte of response
    connection_reset,           // 520: origin reset the connection after the handshake
    response_header_too_large,  // 520: response head over max_response_header
    connect_refused,            // 521: RST on connect (ECONNREFUSED)
    connect_timeout,            // 522: no completed handshake within `connect`
    request_not_acked,          // 522: request not ACKed within `request_ack` (TCP_USER_TIMEOUT)
    unreachable,                // 523: EHOSTUNREACH / ENETUNREACH
    read_timeout,               // 524: connected, but no response within `read`
    write_timeout,              // 524: request body not taken within `write`
    tls_handshake_failed,       // 525
    tls_certificate_invalid,    // 526
    dns_failed,                 // 530 + 1016: an origin name does not resolve
    // edge side
    no_origin_for_host,         // 530 + 1001: no [[origins]] hosts pattern matches
    access_denied,              // 403 + 1006
    not_found,                  // 404 (e.g. /cdn-cgi/error/999)
    // client side
    bad_request,                // 400
    request_timeout,            // 408: head not complete within client_header
    header_too_large,           // 431
    uri_too_long,               // 414: request target over max_url
    not_implemented,            // 501: unknown transfer-coding
};

enum class failing_box { browser, edge, host };

struct failure_info {
    unsigned status;                // HTTP status
    std::string_view reason;        // status line reason phrase
    std::optional<unsigned> retry_after;  // seconds; nullopt = no Retry-After header
    unsigned error_code;            // 522, 1016, 1006, ...
    std::string_view error_name;    // snake_case, e.g. "connection_timeout"
    std::string_view category;      // "origin", "ssl", "dns", "access_denied", "client", "edge"
    std::string_view title;         // page title, e.g. "Connection timed out"
    failing_box box;                // which of the three boxes is marked Error
    bool failover;                  // eligible for zero-downtime failover (521/522/523/525/526)
    bool retryable;                 // the client may retry later
    bool owner_action_required;
};

failure_info const& info(failure f) noexcept;
std::string_view name(failure f) noexcept;  // the enumerator's name, for logs

// The representative failure of a code for GET /cdn-cgi/error/CODE; nullopt for codes outside the
// SPEC table (-> 404).
std::optional<failure> failure_for_code(unsigned code) noexcept;

// Classification of socket errors by phase. `operation_aborted` is never passed here (it means
// "we cancelled"); callers handle it first.
failure classify_connect_error(boost::system::error_code const& ec) noexcept;   // connect phase
failure classify_response_error(boost::system::error_code const& ec, bool got_bytes) noexcept;
failure classify_write_error(boost::system::error_code const& ec) noexcept;  // writing the request

} // namespace edge522
