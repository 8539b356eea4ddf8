#include "config/duration.hpp"

#include <array>
#include <limits>

namespace edge522::config {

namespace {

// Longer than any sane timeout, and far below what steady_clock::now() + d can hold (int64 ns
// reaches 292 years), so callers may add any parsed duration to a time point without overflow.
constexpr std::uint64_t max_duration_ms = 8760ull * 3'600'000; // 8760h = 365 days

std::string quoted(std::string_view text)
{
    std::string out = "\"";
    out.append(text);
    out += '"';
    return out;
}

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

// A decimal number "12" or "1.25" at the front of `text`: integer digits, fraction digits (trailing
// zeros dropped), and the rest. Whole-number overflow is reported, so callers only check units.
struct decimal {
    std::uint64_t whole = 0;
    std::string_view fraction; // digits after '.', trailing zeros removed
    std::string_view rest;     // the unit
    bool overflow = false;
};

std::optional<decimal> split_decimal(std::string_view text)
{
    decimal d;
    std::size_t i = 0;
    while (i < text.size() && is_digit(text[i])) {
        auto digit = static_cast<std::uint64_t>(text[i] - '0');
        if (d.whole > (std::numeric_limits<std::uint64_t>::max() - digit) / 10)
            d.overflow = true;
        else
            d.whole = d.whole * 10 + digit;
        ++i;
    }
    if (i == 0)
        return std::nullopt;
    if (i < text.size() && text[i] == '.') {
        std::size_t start = ++i;
        while (i < text.size() && is_digit(text[i]))
            ++i;
        if (i == start)
            return std::nullopt; // "1.s"
        d.fraction = text.substr(start, i - start);
        while (!d.fraction.empty() && d.fraction.back() == '0')
            d.fraction.remove_suffix(1);
    }
    d.rest = text.substr(i);
    return d;
}

} // namespace

std::optional<duration> parse_duration(std::string_view text, std::string& error)
{
    static constexpr char const* hint = R"( (use e.g. "19s" or "250ms"))";
    if (text.empty()) {
        error = std::string("empty duration") + hint;
        return std::nullopt;
    }
    if (text.front() == '-') {
        error = quoted(text) + " is negative";
        return std::nullopt;
    }
    auto d = split_decimal(text);
    if (!d) {
        error = quoted(text) + " is not a duration" + hint;
        return std::nullopt;
    }
    if (d->rest.empty()) {
        error = quoted(text) + " has no unit" + hint;
        return std::nullopt;
    }

    struct unit {
        std::string_view name;
        std::uint64_t ms;
    };
    static constexpr std::array<unit, 4> units{{{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};
    std::uint64_t unit_ms = 0;
    for (auto const& u : units)
        if (d->rest == u.name)
            unit_ms = u.ms;
    if (unit_ms == 0) {
        error = quoted(text) + " has an unknown unit " + quoted(d->rest) + " (use ms, s, m or h)";
        return std::nullopt;
    }

    auto too_large = [&] {
        error = quoted(text) + " is too large (at most 8760h)";
        return std::nullopt;
    };
    if (d->overflow || d->whole > max_duration_ms / unit_ms)
        return too_large();
    std::uint64_t ms = d->whole * unit_ms;

    if (!d->fraction.empty()) {
        // 1h = 2^7 * 3^2 * 5^5 ms, so no unit has an exact millisecond value past 7 decimals.
        if (d->fraction.size() > 7) {
            error = quoted(text) + " is finer than a millisecond";
            return std::nullopt;
        }
        std::uint64_t numerator = 0;
        std::uint64_t denominator = 1;
        for (char c : d->fraction) {
            numerator = numerator * 10 + static_cast<std::uint64_t>(c - '0');
            denominator *= 10;
        }
        numerator *= unit_ms; // < 10^7 * 3.6e6, fits easily
        if (numerator % denominator != 0) {
            error = quoted(text) + " is finer than a millisecond";
            return std::nullopt;
        }
        ms += numerator / denominator;
        if (ms > max_duration_ms)
            return too_large();
    }
    return duration{static_cast<duration::rep>(ms)};
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string& error)
{
    static constexpr char const* hint = R"( (use an integer of bytes or e.g. "32KiB", "1MiB"))";
    if (text.empty()) {
        error = std::string("empty size") + hint;
        return std::nullopt;
    }
    if (text.front() == '-') {
        error = quoted(text) + " is negative";
        return std::nullopt;
    }
    auto d = split_decimal(text);
    if (!d) {
        error = quoted(text) + " is not a size" + hint;
        return std::nullopt;
    }
    if (text.find('.') != std::string_view::npos) {
        error = quoted(text) + " is not a whole number (write e.g. \"1536KiB\" for 1.5MiB)";
        return std::nullopt;
    }
    if (d->rest.empty()) {
        error = quoted(text) + " has no unit" + hint;
        return std::nullopt;
    }

    struct unit {
        std::string_view name;
        std::uint64_t bytes;
    };
    // SI units are powers of 1000, IEC units powers of 1024, as the names promise: "64KB" = 64000.
    static constexpr std::array<unit, 10> units{{
        {"B", 1},
        {"KB", 1000},
        {"kB", 1000},
        {"MB", 1000 * 1000},
        {"GB", 1000 * 1000 * 1000},
        {"TB", 1000ull * 1000 * 1000 * 1000},
        {"KiB", 1024},
        {"MiB", 1024 * 1024},
        {"GiB", 1024 * 1024 * 1024},
        {"TiB", 1024ull * 1024 * 1024 * 1024},
    }};
    std::uint64_t unit_bytes = 0;
    for (auto const& u : units)
        if (d->rest == u.name)
            unit_bytes = u.bytes;
    if (unit_bytes == 0) {
        error = quoted(text) + " has an unknown unit " + quoted(d->rest) +
                " (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)";
        return std::nullopt;
    }
    if (d->overflow || d->whole > std::numeric_limits<std::uint64_t>::max() / unit_bytes) {
        error = quoted(text) + " is too large";
        return std::nullopt;
    }
    return d->whole * unit_bytes;
}

std::string format_duration(duration d)
{
    auto ms = d.count();
    if (ms == 0)
        return "0s";
    std::string sign;
    // Negative durations never come out of parse_duration; they can come from arithmetic in logs.
    std::uint64_t magnitude = ms < 0 ? 0 - static_cast<std::uint64_t>(ms) : static_cast<std::uint64_t>(ms);
    if (ms < 0)
        sign = "-";
    if (magnitude % 3'600'000 == 0)
        return sign + std::to_string(magnitude / 3'600'000) + "h";
    if (magnitude % 60'000 == 0)
        return sign + std::to_string(magnitude / 60'000) + "m";
    if (magnitude % 1000 == 0)
        return sign + std::to_string(magnitude / 1000) + "s";
    return sign + std::to_string(magnitude) + "ms";
}

} // namespace edge522::config
