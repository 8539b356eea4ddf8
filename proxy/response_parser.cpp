#include "proxy/response_parser.hpp"

#include <boost/beast/http/error.hpp>

namespace edge522 {

namespace http = boost::beast::http;

void response_parser::on_request_impl(http::verb, string_view, string_view, int, error_code& ec) {
    ec = http::error::bad_version;  // never called: this parser reads responses
}

void response_parser::on_response_impl(int code, string_view reason, int version, error_code& ec) {
    m_.start(reason, {}, 512);  // nginx's response fields are about 150 bytes
    m_.reason_len_ = static_cast<std::uint32_t>(reason.size());
    m_.status_ = static_cast<unsigned short>(code);
    m_.version_ = static_cast<unsigned char>(version);
    ec = {};
}

} // namespace edge522
