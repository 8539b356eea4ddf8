#include "proxy/failure.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <cerrno>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace edge522;
namespace aerr = boost::asio::error;
namespace http = boost::beast::http;

namespace {

// Every enumerator, so a new one added without a row here fails the count check below.
std::vector<failure> const all_failures{
    failure::invalid_response, failure::empty_response, failure::connection_reset,
    failure::response_header_too_large, failure::connect_refused, failure::connect_timeout,
    failure::request_not_acked, failure::unreachable, failure::read_timeout, failure::write_timeout,
    failure::tls_handshake_failed, failure::tls_certificate_invalid, failure::dns_failed,
    failure::no_origin_for_host, failure::access_denied, failure::not_found, failure::bad_request,
    failure::request_timeout, failure::header_too_large, failure::not_implemented,
};

struct expected_row {
    failure f;
    unsigned status;
    std::string_view reason;
    std::optional<unsigned> retry_after;
    unsigned error_code;
};

// SPEC section 4, "The edge's own answers", plus the client-side codes of the same section.
std::vector<expected_row> const spec_table{
    {failure::invalid_response, 520, "Web Server Returned an Unknown Error", 60, 520},
    {failure::empty_response, 520, "Web Server Returned an Unknown Error", 60, 520},
    {failure::connection_reset, 520, "Web Server Returned an Unknown Error", 60, 520},
    {failure::response_header_too_large, 520, "Web Server Returned an Unknown Error", 60, 520},
    {failure::connect_refused, 521, "Web Server Is Down", 120, 521},
    {failure::connect_timeout, 522, "Connection Timed Out", 120, 522},
    {failure::request_not_acked, 522, "Connection Timed Out", 120, 522},
    {failure::unreachable, 523, "Origin Is Unreachable", 120, 523},
    {failure::read_timeout, 524, "A Timeout Occurred", 120, 524},
    {failure::write_timeout, 524, "A Timeout Occurred", 120, 524},
    {failure::tls_handshake_failed, 525, "SSL Handshake Failed", std::nullopt, 525},
    {failure::tls_certificate_invalid, 526, "Invalid SSL Certificate", std::nullopt, 526},
    {failure::dns_failed, 530, "Origin DNS Error", std::nullopt, 1016},
    {failure::access_denied, 403, "Forbidden", std::nullopt, 1006},
    {failure::no_origin_for_host, 530, "Origin DNS Error", std::nullopt, 1001},
    {failure::not_found, 404, "Not Found", std::nullopt, 404},
    {failure::bad_request, 400, "Bad Request", std::nullopt, 400},
    {failure::request_timeout, 408, "Request Timeout", std::nullopt, 408},
    {failure::header_too_large, 431, "Request Header Fields Too Large", std::nullopt, 431},
    {failure::not_implemented, 501, "Not Implemented", std::nullopt, 501},
};

} // namespace

TEST_CASE("failure table: status, reason phrase, Retry-After and code per SPEC section 4", "[failure]") {
    REQUIRE(spec_table.size() == all_failures.size());
    for (auto const& row : spec_table) {
        INFO(name(row.f));
        auto const& i = info(row.f);
        CHECK(i.status == row.status);
        CHECK(i.reason == row.reason);
        CHECK(i.retry_after == row.retry_after);
        CHECK(i.error_code == row.error_code);
    }
}

TEST_CASE("failure table: names, titles, categories are filled in and names are unique", "[failure]") {
    std::set<std::string_view> names;
    for (auto f : all_failures) {
        INFO(name(f));
        auto const& i = info(f);
        CHECK_FALSE(name(f).empty());
        CHECK(names.insert(name(f)).second);
        CHECK_FALSE(i.error_name.empty());
        CHECK_FALSE(i.title.empty());
        CHECK_FALSE(i.category.empty());
        CHECK_FALSE(i.reason.empty());
        // error_name is snake_case (it goes into JSON and logs as is)
        for (char c : i.error_name) CHECK(((c >= 'a' && c <= 'z') || c == '_'));
    }
    CHECK(info(failure::connect_timeout).error_name == "connection_timeout");
    CHECK(info(failure::connect_timeout).title == "Connection timed out");
    CHECK(info(failure::connect_timeout).category == "origin");
    CHECK(info(failure::tls_handshake_failed).category == "ssl");
    CHECK(info(failure::dns_failed).category == "dns");
    CHECK(info(failure::access_denied).category == "access_denied");
}

TEST_CASE("failure table: failover only for 521, 522, 523, 525, 526", "[failure]") {
    std::set<unsigned> const failover_codes{521, 522, 523, 525, 526};
    for (auto f : all_failures) {
        INFO(name(f));
        auto const& i = info(f);
        CHECK(i.failover == (failover_codes.count(i.status) == 1));
    }
}

TEST_CASE("failure table: the failing box", "[failure]") {
    for (auto f : all_failures) {
        INFO(name(f));
        auto const& i = info(f);
        if (i.status >= 520 && i.status <= 526) CHECK(i.box == failing_box::host);
        if (i.status >= 400 && i.status < 500) CHECK(i.box == failing_box::browser);
    }
    CHECK(info(failure::dns_failed).box == failing_box::host);
    CHECK(info(failure::no_origin_for_host).box == failing_box::edge);
}

TEST_CASE("failure table: retry hints", "[failure]") {
    for (auto f : all_failures) {
        INFO(name(f));
        auto const& i = info(f);
        // A Retry-After header is only sent for what may be retried.
        if (i.retry_after) CHECK(i.retryable);
        if (i.status >= 520 && i.status <= 526) CHECK(i.owner_action_required);
    }
    CHECK_FALSE(info(failure::tls_handshake_failed).retryable);
    CHECK_FALSE(info(failure::access_denied).owner_action_required);
}

TEST_CASE("failure_for_code: every code of the table, nullopt otherwise", "[failure]") {
    for (unsigned code : {520u, 521u, 522u, 523u, 524u, 525u, 526u, 530u, 403u}) {
        INFO(code);
        auto const f = failure_for_code(code);
        REQUIRE(f.has_value());
        CHECK(info(*f).status == code);
    }
    CHECK(failure_for_code(530) == failure::dns_failed);
    CHECK(failure_for_code(403) == failure::access_denied);
    CHECK(failure_for_code(522) == failure::connect_timeout);
    for (unsigned code : {0u, 1u, 200u, 400u, 404u, 500u, 502u, 504u, 519u, 527u, 529u, 531u, 999u, 100000u}) {
        INFO(code);
        CHECK_FALSE(failure_for_code(code).has_value());
    }
}

TEST_CASE("classify_connect_error", "[failure]") {
    using boost::system::error_code;
    CHECK(classify_connect_error(aerr::connection_refused) == failure::connect_refused);
    CHECK(classify_connect_error(boost::beast::error::timeout) == failure::connect_timeout);
    CHECK(classify_connect_error(aerr::timed_out) == failure::connect_timeout);
    CHECK(classify_connect_error(aerr::host_unreachable) == failure::unreachable);
    CHECK(classify_connect_error(aerr::network_unreachable) == failure::unreachable);
    CHECK(classify_connect_error(aerr::host_not_found) == failure::dns_failed);
    CHECK(classify_connect_error(aerr::host_not_found_try_again) == failure::dns_failed);
    // Raw errno values (what a socket op reports) compare equal to the asio enumerators.
    CHECK(classify_connect_error(error_code(ECONNREFUSED, boost::system::system_category())) ==
          failure::connect_refused);
    CHECK(classify_connect_error(error_code(EHOSTUNREACH, boost::system::system_category())) ==
          failure::unreachable);
}

TEST_CASE("classify_response_error", "[failure]") {
    CHECK(classify_response_error(boost::beast::error::timeout, false) == failure::read_timeout);
    CHECK(classify_response_error(boost::beast::error::timeout, true) == failure::read_timeout);
    // TCP_USER_TIMEOUT: the request was never ACKed.
    CHECK(classify_response_error(aerr::timed_out, false) == failure::request_not_acked);
    CHECK(classify_response_error(aerr::eof, false) == failure::empty_response);
    CHECK(classify_response_error(aerr::eof, true) == failure::invalid_response);
    CHECK(classify_response_error(http::error::end_of_stream, false) == failure::empty_response);
    CHECK(classify_response_error(http::error::end_of_stream, true) == failure::invalid_response);
    CHECK(classify_response_error(http::error::partial_message, true) == failure::invalid_response);
    CHECK(classify_response_error(aerr::connection_reset, false) == failure::connection_reset);
    CHECK(classify_response_error(aerr::connection_reset, true) == failure::connection_reset);
    CHECK(classify_response_error(http::error::header_limit, true) == failure::response_header_too_large);
    CHECK(classify_response_error(http::error::bad_version, true) == failure::invalid_response);
    CHECK(classify_response_error(aerr::host_unreachable, false) == failure::unreachable);
}

TEST_CASE("classify_write_error: our write timer, TCP_USER_TIMEOUT, origin closed", "[failure]") {
    using edge522::classify_write_error;
    using edge522::failure;
    CHECK(classify_write_error(boost::beast::error::timeout) == failure::write_timeout);
    CHECK(classify_write_error(boost::asio::error::timed_out) == failure::request_not_acked);
    CHECK(classify_write_error(boost::asio::error::broken_pipe) == failure::connection_reset);
    CHECK(classify_write_error(boost::asio::error::connection_reset) == failure::connection_reset);
    CHECK(classify_write_error(boost::asio::error::host_unreachable) == failure::unreachable);
}
