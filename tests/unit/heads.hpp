#pragma once
// Heads parsed from text for the unit tests: with Beast's parser (requests, and what the edge
// sent), and with the edge's own response_parser (an origin's head, as relay_response gets it).
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

// An origin's response head, as the edge parses it.
inline relayed_response origin_head(std::string const& text) {
    response_parser p;
    put_head(p, text);
    return std::move(p.get());
}

} // namespace edge522::test
