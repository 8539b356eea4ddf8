#pragma once
// How a request's value (host, client address, diagnosis) is escaped where an error page or its
// headers show it, byte by byte: the rules error_page.cpp's put_value() applies, and plain_run(),
// which finds where the next byte needing a rule is, 16 bytes at a time where SSE2 is there (every
// x86-64). The values are hostile input; plain_run() is held to the byte-by-byte table by a unit
// test for every length, position and byte class.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace edge522::page_escape {

// Where a value lands, which decides how it is escaped once cleaned.
enum class esc : std::uint8_t {
    none,          // header line, Markdown fence, plain text: cleaning only
    html,          // & < > " ' as character references
    md_code,       // inside a Markdown code span: ` -> '
    json,          // inside a JSON string: " and backslash
    json_md_code,  // a Markdown code span inside a JSON string
};

// What a printable ASCII byte becomes in `e`; empty = itself.
constexpr std::string_view escape_ascii(char c, esc e) noexcept {
    switch (e) {
    case esc::none: return {};
    case esc::html:
        switch (c) {
        case '&': return "&amp;";
        case '<': return "&lt;";
        case '>': return "&gt;";
        case '"': return "&quot;";
        case '\'': return "&#39;";
        default: return {};
        }
    case esc::md_code: return c == '`' ? "'" : std::string_view{};
    case esc::json:
    case esc::json_md_code:
        if (c == '"') return "\\\"";
        if (c == '\\') return "\\\\";
        if (c == '`' && e == esc::json_md_code) return "'";
        return {};
    }
    return {};
}

constexpr bool is_control(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

// For each esc: true for the bytes that go out unchanged (printable ASCII it does not escape).
inline constexpr auto plain_bytes = [] {
    std::array<std::array<bool, 256>, 5> t{};
    for (std::size_t e = 0; e < t.size(); ++e)
        for (int c = 0x20; c < 0x7f; ++c) t[e][std::size_t(c)] = escape_ascii(char(c), esc(e)).empty();
    return t;
}();

namespace detail {

// The printable ASCII bytes `e` escapes (at most five).
struct specials {
    std::array<char, 5> c{};
    std::size_t n = 0;
};
constexpr specials specials_of(esc e) noexcept {
    specials s;
    for (int c = 0x20; c < 0x7f; ++c)
        if (!escape_ascii(char(c), e).empty()) s.c[s.n++] = char(c);
    return s;
}

template <esc E>
std::size_t plain_run(unsigned char const* p, std::size_t i, std::size_t n) noexcept {
#if defined(__SSE2__)
    constexpr specials sp = specials_of(E);
    static_assert(sp.n <= sp.c.size());
    __m128i const below = _mm_set1_epi8(0x20 - 1), above = _mm_set1_epi8(0x7f);
    for (; i + 16 <= n; i += 16) {
        __m128i const x = _mm_loadu_si128(reinterpret_cast<__m128i const*>(p + i));
        // Signed compares: a byte >= 0x80 is negative, so "printable" is 0x20..0x7e exactly.
        __m128i const printable = _mm_and_si128(_mm_cmpgt_epi8(x, below), _mm_cmplt_epi8(x, above));
        __m128i special = _mm_setzero_si128();
        for (std::size_t k = 0; k < sp.n; ++k) special = _mm_or_si128(special, _mm_cmpeq_epi8(x, _mm_set1_epi8(sp.c[k])));
        unsigned const stop = (~static_cast<unsigned>(_mm_movemask_epi8(printable)) & 0xffffu) |
                              static_cast<unsigned>(_mm_movemask_epi8(special));
        if (stop != 0) return i + static_cast<std::size_t>(__builtin_ctz(stop));
    }
#endif
    auto const& plain = plain_bytes[static_cast<std::size_t>(E)];
    while (i < n && plain[p[i]]) ++i;
    return i;
}

} // namespace detail

// The first index >= i (at most n) of p[0..n) whose byte does not go out unchanged in `e`.
inline std::size_t plain_run(unsigned char const* p, std::size_t i, std::size_t n, esc e) noexcept {
    switch (e) {
    case esc::none: return detail::plain_run<esc::none>(p, i, n);
    case esc::html: return detail::plain_run<esc::html>(p, i, n);
    case esc::md_code: return detail::plain_run<esc::md_code>(p, i, n);
    case esc::json: return detail::plain_run<esc::json>(p, i, n);
    case esc::json_md_code: return detail::plain_run<esc::json_md_code>(p, i, n);
    }
    return i;
}

} // namespace edge522::page_escape
