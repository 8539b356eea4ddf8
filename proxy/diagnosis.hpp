#pragma once
// The words for what the edge saw: one line per failure ("TCP handshake with 127.0.0.1:3000 not
// completed within 19s (no SYN-ACK; waited 19000 ms) (ETIMEDOUT (deadline))"), used alike by the
// Edge522-Diagnosis header, the error page's owner section, the access log and `edge522 probe`.
// The code (520..530) comes from failure.*; the cause and the fix shown on pages from error_page.*.

#include "config/config.hpp"
#include "proxy/failure.hpp"
#include "proxy/origin_connector.hpp"

#include <boost/system/error_code.hpp>

#include <string>
#include <string_view>

namespace edge522 {

// DNS or connect: what was tried, from where, how long, errno; the emulated firewall when it acted.
std::string describe_connect(connect_result const& cr, config::origin_timeouts const& t);

// Writing the request (head or body) to `server` failed as `f`.
std::string describe_request_write(failure f, std::string_view server, boost::system::error_code const& ec,
                                   config::origin_timeouts const& t, bool body);

// No usable response head from `server` (`f` from classify_response_error or the head reader).
std::string describe_response(failure f, std::string_view server, boost::system::error_code const& ec,
                              config::origin_timeouts const& t, std::uint64_t max_response_header,
                              long waited_ms);

std::string describe_access_denied(std::string_view client_ip, std::string_view rule, std::string_view origin);
std::string describe_no_route(std::string_view host);

} // namespace edge522
