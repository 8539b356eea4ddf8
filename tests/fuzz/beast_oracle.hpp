#pragma once
// Beast's own parser<> as the oracle for the edge's parsers (request_parser.hpp, response_parser.hpp:
// Beast's basic_parser, the head stored as a parsed_head): the same head bytes must parse whole, and
// give the same fields. Beast's fields list a name's fields together (each after the last of its
// name); the edge's keep arrival order. So both are compared grouped by name, the order among
// fields of one name kept.

#include "proxy/parsed_head.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string_view>
#include <utility>
#include <vector>

namespace edge522::fuzz {

using fields_in_order = std::vector<std::pair<std::string_view, std::string_view>>;

// The fields with those of one name together, in their order, names compared case-insensitively.
inline fields_in_order grouped(fields_in_order f) {
    std::stable_sort(f.begin(), f.end(), [](auto const& a, auto const& b) {
        return std::lexicographical_compare(a.first.begin(), a.first.end(), b.first.begin(), b.first.end(),
                                            [](unsigned char x, unsigned char y) { return std::tolower(x) < std::tolower(y); });
    });
    return f;
}

inline bool same_names(fields_in_order const& a, fields_in_order const& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!boost::beast::iequals(a[i].first, b[i].first) || a[i].second != b[i].second) return false;
    return true;
}

// `want`: Beast's fields; `got`: the edge's. Each of the edge's fields also carries the enumerator
// Beast gives its name.
template <class BeastFields>
void check_same_fields(BeastFields const& want, parsed_head const& got) {
    fields_in_order w, g;
    for (auto const& f : want) w.emplace_back(f.name_string(), f.value());
    for (auto const& f : got) {
        FUZZ_CHECK(f.name() == boost::beast::http::string_to_field(f.name_string()));
        g.emplace_back(f.name_string(), f.value());
    }
    FUZZ_CHECK(same_names(grouped(w), grouped(g)));
}

// Feeds `head` (a whole head, nothing after it) to Beast's parser `b` (a parser<> over empty_body,
// skip() set as the edge's was; the limits are set here as the edge sets them): it must take all
// of it without an error or a throw.
template <class BeastParser>
void beast_takes_head(BeastParser& b, std::string_view head, std::size_t header_limit) {
    b.header_limit(static_cast<std::uint32_t>(header_limit));
    b.body_limit(boost::none);  // as the edge's: bodies stream (Beast's default limit fails the head)
    b.eager(false);
    boost::system::error_code ec;
    std::size_t n = 0;
    try {
        n = b.put(boost::asio::buffer(head.data(), head.size()), ec);
    } catch (std::exception const&) {
        FUZZ_CHECK(false);
    }
    if (ec || !b.is_header_done() || n != head.size())
        std::fprintf(stderr, "Beast's parser<>: %s, header done %d, took %zu of %zu bytes\n", ec.message().c_str(),
                     int(b.is_header_done()), n, head.size());
    FUZZ_CHECK(!ec && b.is_header_done() && n == head.size());
}

} // namespace edge522::fuzz
