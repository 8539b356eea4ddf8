#pragma once
// Heads parsed from text for the unit tests: with Beast's parser (what the edge sent), and with the
// edge's own parsers (a client's head as the session gets it, an origin's as relay_response does).
#include "proxy/request_parser.hpp"
#include "proxy/response_parser.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <utility>

namespace edge522::test {

// Feeds `text` to a parser that stops after the head, as a test requires it to parse.
template <class Parser>
void put_head(Parser& p, std::string const& text) {
    p.eager(false);
    p.header_limit(1024 * 1024);
    boost::system::error_code ec;
    p.put(boost::asio::buffer(text), ec);
    INFO(text);
    REQUIRE_FALSE(ec);
    REQUIRE(p.is_header_done());
}

template <bool isRequest>
boost::beast::http::header<isRequest> parse_head(std::string const& text) {
    boost::beast::http::parser<isRequest, boost::beast::http::empty_body> p;
    put_head(p, text);
    return p.release().base();
}

// A client's request head, as the edge parses it.
inline received_request client_head(std::string const& text) {
    request_parser p;
    put_head(p, text);
    return std::move(p.get());
}

// An origin's response head, as the edge parses it.
inline relayed_response origin_head(std::string const& text) {
    response_parser p;
    put_head(p, text);
    return std::move(p.get());
}

} // namespace edge522::test
