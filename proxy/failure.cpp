#include "proxy/failure.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <array>
#include <cerrno>

namespace edge522 {

namespace {

struct row {
    failure f;
    std::string_view enum_name;
    failure_info i;
};

using B = failing_box;

// THE table. Reason phrases and Retry-After from SPEC section 4 / CLOUDFLARE.md section 2c;
// failover per Cloudflare's zero-downtime failover (521, 522, 523, 525, 526 only).
//                                   status reason                                  retry  code  error_name                    category        title                                      box        fo     retry  owner
constexpr std::array rows{
    row{failure::invalid_response, "invalid_response",
        {520, "Web Server Returned an Unknown Error", 60, 520, "web_server_unknown_error", "origin", "Web server is returning an unknown error", B::host, false, true, true}},
    row{failure::empty_response, "empty_response",
        {520, "Web Server Returned an Unknown Error", 60, 520, "web_server_unknown_error", "origin", "Web server is returning an unknown error", B::host, false, true, true}},
    row{failure::connection_reset, "connection_reset",
        {520, "Web Server Returned an Unknown Error", 60, 520, "web_server_unknown_error", "origin", "Web server is returning an unknown error", B::host, false, true, true}},
    row{failure::response_header_too_large, "response_header_too_large",
        {520, "Web Server Returned an Unknown Error", 60, 520, "web_server_unknown_error", "origin", "Web server is returning an unknown error", B::host, false, true, true}},
    row{failure::connect_refused, "connect_refused",
        {521, "Web Server Is Down", 120, 521, "web_server_down", "origin", "Web server is down", B::host, true, true, true}},
    row{failure::connect_timeout, "connect_timeout",
        {522, "Connection Timed Out", 120, 522, "connection_timeout", "origin", "Connection timed out", B::host, true, true, true}},
    row{failure::request_not_acked, "request_not_acked",
        {522, "Connection Timed Out", 120, 522, "connection_timeout", "origin", "Connection timed out", B::host, true, true, true}},
    row{failure::unreachable, "unreachable",
        {523, "Origin Is Unreachable", 120, 523, "origin_unreachable", "origin", "Origin is unreachable", B::host, true, true, true}},
    row{failure::read_timeout, "read_timeout",
        {524, "A Timeout Occurred", 120, 524, "origin_timeout", "origin", "A timeout occurred", B::host, false, true, true}},
    row{failure::write_timeout, "write_timeout",
        {524, "A Timeout Occurred", 120, 524, "origin_timeout", "origin", "A timeout occurred", B::host, false, true, true}},
    row{failure::tls_handshake_failed, "tls_handshake_failed",
        {525, "SSL Handshake Failed", std::nullopt, 525, "ssl_handshake_failed", "ssl", "SSL handshake failed", B::host, true, false, true}},
    row{failure::tls_certificate_invalid, "tls_certificate_invalid",
        {526, "Invalid SSL Certificate", std::nullopt, 526, "invalid_ssl_certificate", "ssl", "Invalid SSL certificate", B::host, true, false, true}},
    row{failure::dns_failed, "dns_failed",
        {530, "Origin DNS Error", std::nullopt, 1016, "origin_dns_error", "dns", "Origin DNS error", B::host, false, false, true}},
    row{failure::no_origin_for_host, "no_origin_for_host",
        {530, "Origin DNS Error", std::nullopt, 1001, "dns_resolution_error", "config", "DNS resolution error", B::edge, false, false, true}},
    row{failure::access_denied, "access_denied",
        {403, "Forbidden", std::nullopt, 1006, "ip_banned", "access_denied", "Access denied", B::browser, false, false, false}},
    row{failure::not_found, "not_found",
        {404, "Not Found", std::nullopt, 404, "not_found", "edge", "Not found", B::browser, false, false, false}},
    row{failure::bad_request, "bad_request",
        {400, "Bad Request", std::nullopt, 400, "bad_request", "client", "Bad request", B::browser, false, false, false}},
    row{failure::request_timeout, "request_timeout",
        {408, "Request Timeout", std::nullopt, 408, "request_timeout", "client", "Request timeout", B::browser, false, true, false}},
    row{failure::header_too_large, "header_too_large",
        {431, "Request Header Fields Too Large", std::nullopt, 431, "request_header_fields_too_large", "client", "Request header fields too large", B::browser, false, false, false}},
    row{failure::uri_too_long, "uri_too_long",
        {414, "URI Too Long", std::nullopt, 414, "uri_too_long", "client", "URI too long", B::browser, false, false, false}},
    row{failure::not_implemented, "not_implemented",
        {501, "Not Implemented", std::nullopt, 501, "not_implemented", "client", "Not implemented", B::browser, false, false, false}},
};

constexpr bool table_is_indexed() {
    for (std::size_t i = 0; i < rows.size(); ++i)
        if (static_cast<std::size_t>(rows[i].f) != i) return false;
    return true;
}
static_assert(table_is_indexed(), "rows must follow the order of enum class failure");

} // namespace

failure_info const& info(failure f) noexcept { return rows[static_cast<std::size_t>(f)].i; }

std::string_view name(failure f) noexcept { return rows[static_cast<std::size_t>(f)].enum_name; }

std::optional<failure> failure_for_code(unsigned code) noexcept {
    switch (code) {
    case 520: return failure::invalid_response;
    case 521: return failure::connect_refused;
    case 522: return failure::connect_timeout;
    case 523: return failure::unreachable;
    case 524: return failure::read_timeout;
    case 525: return failure::tls_handshake_failed;
    case 526: return failure::tls_certificate_invalid;
    case 530: return failure::dns_failed;
    case 403: return failure::access_denied;
    default: return std::nullopt;
    }
}

failure classify_connect_error(boost::system::error_code const& ec) noexcept {
    namespace aerr = boost::asio::error;
    if (ec == boost::beast::error::timeout || ec == aerr::timed_out) return failure::connect_timeout;
    if (ec == aerr::connection_refused) return failure::connect_refused;
    if (ec == aerr::host_unreachable || ec == aerr::network_unreachable) return failure::unreachable;
    if (ec == aerr::host_not_found || ec == aerr::host_not_found_try_again || ec == aerr::no_data ||
        ec == aerr::no_recovery)
        return failure::dns_failed;
    if (ec == aerr::connection_reset) return failure::connect_refused;
    // Anything else on connect (EADDRNOTAVAIL, EACCES, ...) is the edge failing to reach the
    // origin: Cloudflare has no better code than "unreachable" for it.
    return failure::unreachable;
}

failure classify_response_error(boost::system::error_code const& ec, bool got_bytes) noexcept {
    namespace aerr = boost::asio::error;
    using herr = boost::beast::http::error;  // an enum class, not a namespace
    if (ec == boost::beast::error::timeout) return failure::read_timeout;
    // TCP_USER_TIMEOUT expiry: the kernel gave up waiting for the origin to ACK our request.
    if (ec == aerr::timed_out) return failure::request_not_acked;
    if (ec == herr::header_limit) return failure::response_header_too_large;
    if (ec == aerr::connection_reset || ec == aerr::broken_pipe) return failure::connection_reset;
    if (ec == herr::end_of_stream || ec == aerr::eof || ec == boost::asio::ssl::error::stream_truncated ||
        ec == herr::partial_message)
        return got_bytes ? failure::invalid_response : failure::empty_response;
    if (ec == aerr::host_unreachable || ec == aerr::network_unreachable) return failure::unreachable;
    return failure::invalid_response;
}

failure classify_write_error(boost::system::error_code const& ec) noexcept {
    namespace aerr = boost::asio::error;
    if (ec == boost::beast::error::timeout) return failure::write_timeout;       // our `write` timer
    if (ec == aerr::timed_out) return failure::request_not_acked;               // TCP_USER_TIMEOUT
    if (ec == aerr::host_unreachable || ec == aerr::network_unreachable) return failure::unreachable;
    return failure::connection_reset;  // EPIPE / ECONNRESET: the origin closed while we wrote
}

} // namespace edge522
