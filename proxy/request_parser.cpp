#include "proxy/request_parser.hpp"

#include <boost/beast/http/error.hpp>

namespace edge522 {

namespace http = boost::beast::http;

void request_parser::on_request_impl(http::verb method, string_view method_str, string_view target, int version,
                                     error_code& ec) {
    // The head is bounded by header_limit(), so the 32-bit lengths hold. Room for a few fields
    // first (Host, User-Agent, Accept: a client's head is small, and a pending request holds it).
    m_.start(method_str, target, 192);
    m_.method_len_ = static_cast<std::uint32_t>(method_str.size());
    m_.target_len_ = static_cast<std::uint32_t>(target.size());
    m_.method_ = method;
    m_.version_ = static_cast<unsigned char>(version);
    ec = {};
}

void request_parser::on_response_impl(int, string_view, int, error_code& ec) {
    ec = http::error::bad_version;  // never called: this parser reads requests
}

} // namespace edge522
