#include "config/duration.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace edge522::config;
using namespace std::chrono_literals;

namespace {

duration parse_ok(std::string_view text)
{
    std::string error;
    auto d = parse_duration(text, error);
    INFO("text: " << text << ", error: " << error);
    REQUIRE(d.has_value());
    CHECK(error.empty());
    return *d;
}

std::string duration_error(std::string_view text)
{
    std::string error;
    auto d = parse_duration(text, error);
    INFO("text: " << text);
    CHECK_FALSE(d.has_value());
    CHECK_FALSE(error.empty());
    return error;
}

std::uint64_t size_ok(std::string_view text)
{
    std::string error;
    auto s = parse_size(text, error);
    INFO("text: " << text << ", error: " << error);
    REQUIRE(s.has_value());
    return *s;
}

std::string size_error(std::string_view text)
{
    std::string error;
    auto s = parse_size(text, error);
    INFO("text: " << text);
    CHECK_FALSE(s.has_value());
    CHECK_FALSE(error.empty());
    return error;
}

} // namespace

TEST_CASE("parse_duration accepts every unit", "[duration]")
{
    CHECK(parse_ok("250ms") == 250ms);
    CHECK(parse_ok("19s") == 19s);
    CHECK(parse_ok("2m") == 2min);
    CHECK(parse_ok("1h") == 1h);
    CHECK(parse_ok("125s") == 125s);
    CHECK(parse_ok("900s") == 900s);
    CHECK(parse_ok("007s") == 7s);
}

TEST_CASE("parse_duration accepts zero in any unit", "[duration]")
{
    CHECK(parse_ok("0s") == 0ms);
    CHECK(parse_ok("0ms") == 0ms);
    CHECK(parse_ok("0m") == 0ms);
    CHECK(parse_ok("0h") == 0ms);
    CHECK(parse_ok("0.0s") == 0ms);
}

TEST_CASE("parse_duration accepts decimal fractions that are whole milliseconds", "[duration]")
{
    CHECK(parse_ok("1.5s") == 1500ms);
    CHECK(parse_ok("0.25s") == 250ms);
    CHECK(parse_ok("0.001s") == 1ms);
    CHECK(parse_ok("1.5m") == 90s);
    CHECK(parse_ok("0.5h") == 30min);
    CHECK(parse_ok("1.0s") == 1s);
    CHECK(parse_ok("1.50s") == 1500ms);
    CHECK(parse_ok("0.00001h") == 36ms);
    CHECK(parse_ok("2.000000000000s") == 2s); // trailing zeros never make it "too fine"
}

TEST_CASE("parse_duration rejects sub-millisecond values", "[duration]")
{
    CHECK(duration_error("1.5ms") == R"("1.5ms" is finer than a millisecond)");
    CHECK(duration_error("0.0001s") == R"("0.0001s" is finer than a millisecond)");
    CHECK(duration_error("0.0000001h") == R"("0.0000001h" is finer than a millisecond)");
    CHECK(duration_error("0.00000001h") == R"("0.00000001h" is finer than a millisecond)");
}

TEST_CASE("parse_duration rejects a missing unit", "[duration]")
{
    CHECK(duration_error("19") == R"("19" has no unit (use e.g. "19s" or "250ms"))");
    CHECK(duration_error("0") == R"("0" has no unit (use e.g. "19s" or "250ms"))");
    CHECK(duration_error("1.5") == R"("1.5" has no unit (use e.g. "19s" or "250ms"))");
}

TEST_CASE("parse_duration rejects empty and negative values", "[duration]")
{
    CHECK(duration_error("") == R"(empty duration (use e.g. "19s" or "250ms"))");
    CHECK(duration_error("-5s") == R"("-5s" is negative)");
    CHECK(duration_error("-0s") == R"("-0s" is negative)");
}

TEST_CASE("parse_duration rejects unknown units", "[duration]")
{
    CHECK(duration_error("5x") == R"("5x" has an unknown unit "x" (use ms, s, m or h))");
    CHECK(duration_error("5S") == R"("5S" has an unknown unit "S" (use ms, s, m or h))");
    CHECK(duration_error("5sec") == R"("5sec" has an unknown unit "sec" (use ms, s, m or h))");
    CHECK(duration_error("5us") == R"("5us" has an unknown unit "us" (use ms, s, m or h))");
    CHECK(duration_error("1d") == R"("1d" has an unknown unit "d" (use ms, s, m or h))");
    CHECK(duration_error("1h30m") == R"("1h30m" has an unknown unit "h30m" (use ms, s, m or h))");
    CHECK(duration_error("5 s") == R"("5 s" has an unknown unit " s" (use ms, s, m or h))");
}

TEST_CASE("parse_duration rejects junk", "[duration]")
{
    for (auto text : {"s", "ms", ".5s", "1.s", "+5s", " 5s", "five seconds", "0x10s", "1e3ms"}) {
        INFO(text);
        auto error = duration_error(text);
        bool const says_why = error.find("is not a duration") != std::string::npos ||
                              error.find("unknown unit") != std::string::npos;
        CHECK(says_why);
    }
    CHECK(duration_error("+5s") == R"("+5s" is not a duration (use e.g. "19s" or "250ms"))");
}

TEST_CASE("parse_duration rejects overflow and absurd values", "[duration]")
{
    CHECK(parse_ok("8760h") == 8760h);
    CHECK(parse_ok("525600m") == 8760h);
    CHECK(duration_error("8761h") == R"("8761h" is too large (at most 8760h))");
    CHECK(duration_error("8760.5h") == R"("8760.5h" is too large (at most 8760h))");
    CHECK(duration_error("99999999999999999999999h") ==
          R"("99999999999999999999999h" is too large (at most 8760h))");
    CHECK(duration_error("18446744073709551615ms") ==
          R"("18446744073709551615ms" is too large (at most 8760h))");
    CHECK(duration_error("18446744073709551616ms") ==
          R"("18446744073709551616ms" is too large (at most 8760h))");
}

TEST_CASE("parse_size accepts IEC and SI units", "[size]")
{
    CHECK(size_ok("32KiB") == 32 * 1024);
    CHECK(size_ok("1MiB") == 1024 * 1024);
    CHECK(size_ok("1GiB") == 1024ull * 1024 * 1024);
    CHECK(size_ok("1TiB") == 1024ull * 1024 * 1024 * 1024);
    CHECK(size_ok("512B") == 512);
    CHECK(size_ok("0B") == 0);
    CHECK(size_ok("64KB") == 64000);
    CHECK(size_ok("64kB") == 64000);
    CHECK(size_ok("1MB") == 1000000);
    CHECK(size_ok("2GB") == 2000000000);
    CHECK(size_ok("1TB") == 1000000000000ull);
    CHECK(size_ok("128KiB") == 131072);
}

TEST_CASE("parse_size rejects junk", "[size]")
{
    CHECK(size_error("") == R"(empty size (use an integer of bytes or e.g. "32KiB", "1MiB"))");
    CHECK(size_error("32") == R"("32" has no unit (use an integer of bytes or e.g. "32KiB", "1MiB"))");
    CHECK(size_error("-1KiB") == R"("-1KiB" is negative)");
    CHECK(size_error("32kib") ==
          R"("32kib" has an unknown unit "kib" (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB))");
    CHECK(size_error("32 KiB") ==
          R"("32 KiB" has an unknown unit " KiB" (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB))");
    CHECK(size_error("1.5MiB") == R"("1.5MiB" is not a whole number (write e.g. "1536KiB" for 1.5MiB))");
    CHECK(size_error("KiB") == R"("KiB" is not a size (use an integer of bytes or e.g. "32KiB", "1MiB"))");
    CHECK(size_error("lots") == R"("lots" is not a size (use an integer of bytes or e.g. "32KiB", "1MiB"))");
    CHECK(size_error("32KiBs").find("unknown unit") != std::string::npos);
}

TEST_CASE("parse_size rejects overflow", "[size]")
{
    CHECK(size_ok("18446744073709551615B") == std::numeric_limits<std::uint64_t>::max());
    CHECK(size_error("18446744073709551616B") == R"("18446744073709551616B" is too large)");
    CHECK(size_error("16777216TiB") == R"("16777216TiB" is too large)");
    CHECK(size_ok("16777215TiB") == 16777215ull * 1024 * 1024 * 1024 * 1024);
}

TEST_CASE("format_duration picks the shortest exact unit", "[duration]")
{
    CHECK(format_duration(0ms) == "0s");
    CHECK(format_duration(250ms) == "250ms");
    CHECK(format_duration(1500ms) == "1500ms");
    CHECK(format_duration(19s) == "19s");
    CHECK(format_duration(125s) == "125s");
    CHECK(format_duration(120s) == "2m");
    CHECK(format_duration(900s) == "15m");
    CHECK(format_duration(1h) == "1h");
    CHECK(format_duration(8760h) == "8760h");
    CHECK(format_duration(-5s) == "-5s");
    CHECK(format_duration(-250ms) == "-250ms");
}

TEST_CASE("format_duration round-trips through parse_duration", "[duration]")
{
    for (duration d :
         std::initializer_list<duration>{0ms, 1ms, 999ms, 1s, 61s, 90s, 59min, 61min, 25h, 8760h}) {
        INFO(d.count() << "ms");
        CHECK(parse_ok(format_duration(d)) == d);
    }
}
