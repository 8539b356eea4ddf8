#pragma once
// Parsing of the config file's scalar units: durations ("250ms", "19s", "2m", "1h") and byte sizes
// (an integer of bytes, or "32KiB", "1MiB", "512B"). Pure functions, no state.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edge522::config {

using duration = std::chrono::milliseconds;

// "250ms", "19s", "1.5s", "2m", "1h", "0s". Returns nullopt and sets `error` on anything else
// (no unit, negative, unknown unit, overflow).
std::optional<duration> parse_duration(std::string_view text, std::string& error);

// "32KiB", "1MiB", "1GiB", "512B", "64KB" (= 64000), "1MB". Integers are handled by the caller.
std::optional<std::uint64_t> parse_size(std::string_view text, std::string& error);

// The shortest exact spelling: 19000ms -> "19s", 250ms -> "250ms", 120000ms -> "2m".
std::string format_duration(duration d);

} // namespace edge522::config
