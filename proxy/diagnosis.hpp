#pragma once
// The words for what the edge saw: one line per failure ("TCP handshake with 127.0.0.1:3000 not
// completed within 19s (no SYN-ACK; waited 19000 ms) (ETIMEDOUT (deadline))"), used alike by the
// Edge522-Diagnosis header, the error page's owner section, the access log and `edge522 probe`.
// With them, the page's prose for each failure (what happened, the visitor's advice, the owner's
// fixes): one place for every word the edge says about a failure. The code (520..530) comes from
// failure.*; error_page.* only lays the words out.

#include "config/config.hpp"
#include "proxy/failure.hpp"
#include "proxy/origin_connector.hpp"
#include "proxy/tls.hpp"

#include <boost/system/error_code.hpp>

#include <array>
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

// The TLS handshake with `server` failed (525) or its certificate did not verify for `name` (526).
// `limit` is the handshake deadline. Names the certificate presented (subject, issuer, expiry).
std::string describe_tls(tls::handshake_result const& r, std::string_view server, std::string_view name,
                         std::chrono::milliseconds limit);

// The words of the page for a failure: what happened (also the JSON "detail"), the visitor's
// advice, and the owner's fixes (the page's owner section; `probe`'s "fix"). Markup: `...` is
// code; {host}, {ip} and {colo} are filled in by the page, always inside backticks.
struct failure_text {
    std::string_view happened;               // one sentence or two
    std::string_view visitor;
    std::array<std::string_view, 3> owner;   // bullets; empty = none
};
failure_text text_for(failure f) noexcept;

// The owner's fixes as one plain line (no markup, {host} filled in), for `probe`.
std::string plain_fix(failure f, std::string_view host);

std::string describe_access_denied(std::string_view client_ip, std::string_view rule, std::string_view origin);
std::string describe_no_route(std::string_view host);

} // namespace edge522
