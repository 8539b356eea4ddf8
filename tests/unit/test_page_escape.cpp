// plain_run() (the 16-bytes-at-a-time search of error pages' value escaping) against the
// byte-by-byte table it stands for: every escape mode, every length to 48, every start to 3, one
// byte of each class at each position (or none).

#include "proxy/page_escape.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace edge522::page_escape;

namespace {

std::size_t reference(std::string const& s, std::size_t i, esc e) {
    auto const& plain = plain_bytes[static_cast<std::size_t>(e)];
    while (i < s.size() && plain[static_cast<unsigned char>(s[i])]) ++i;
    return i;
}

} // namespace

TEST_CASE("plain_run stops where the byte-by-byte rule stops", "[page][escape]") {
    // Each class: every special of every mode, controls, DEL, UTF-8 lead and continuation bytes,
    // 0xff, a space and a letter (plain everywhere).
    std::vector<char> const probes = {'&', '<', '>', '"', '\'', '`', '\\', '\0', '\t', '\x1f', '\x7f',
                                      '\x80', '\xbf', '\xc3', '\xe2', '\xff', ' ', 'a', '~', '!'};
    esc const modes[] = {esc::none, esc::html, esc::md_code, esc::json, esc::json_md_code};
    std::size_t checked = 0;
    for (esc e : modes) {
        for (std::size_t len = 0; len <= 48; ++len) {
            for (std::size_t at = 0; at <= len; ++at) {  // at == len: no probe (all plain)
                for (char b : probes) {
                    std::string s(len, 'x');
                    if (at < len) s[at] = b;
                    auto const* p = reinterpret_cast<unsigned char const*>(s.data());
                    for (std::size_t start = 0; start <= std::min<std::size_t>(3, len); ++start) {
                        auto const want = reference(s, start, e);
                        auto const got = plain_run(p, start, s.size(), e);
                        if (got != want) FAIL("mode " << int(e) << " len " << len << " byte " << int(static_cast<unsigned char>(b)) << " at " << at << " from " << start << ": " << got << " != " << want);
                        ++checked;
                    }
                    if (at == len) break;  // one all-plain case per length
                }
            }
        }
    }
    CHECK(checked > 100000);
}

TEST_CASE("plain_run finds the first of several stops and reads nothing past n", "[page][escape]") {
    std::string const s = "abcdefghijklmnopqrstuv<wxyz&\x80";
    auto const* p = reinterpret_cast<unsigned char const*>(s.data());
    CHECK(plain_run(p, 0, s.size(), esc::html) == s.find('<'));
    CHECK(plain_run(p, s.find('<') + 1, s.size(), esc::html) == s.find('&'));
    CHECK(plain_run(p, 0, s.size(), esc::none) == s.size() - 1);  // only the 0x80 stops it
    CHECK(plain_run(p, 0, 20, esc::html) == 20);  // a limit inside the string: the bytes after it do not count
}
