#pragma once
// The access log: one line per exchange, text or JSON, to stdout, a file, or nowhere.
//
// Who owns what:
//   worker thread --log_access()--> its own thread_buffer (thread_local, registered once, <= 1 MiB)
//                                        |  swapped out under that buffer's own mutex (never shared
//                                        v  between workers; held only for an append or a swap)
//   writer thread (one, owned by the log) --blocking write(2)--> stdout / the file
// A worker never waits for the destination: when its buffer is full (the writer is stuck on a full
// pipe or a slow disk) the line is dropped and counted. The writer wakes when a buffer passes
// 32 KiB, and at least every second; shutdown_access_log() writes whatever is left.
//
// Lifetime: server::run() calls init_access_log() before its workers start and shutdown_access_log()
// after they are joined (so a SIGTERM drain loses no line); SIGUSR1 calls reopen_access_log().

#include "config/config.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace edge522 {

struct access_entry {
    std::string_view client{};      // client ip
    std::string_view host{};
    std::string_view method{};
    std::string_view target{};
    unsigned status = 0;            // what the client got; 0 = nothing (connection dropped)
    std::string_view origin{};      // origin name, "" when none was chosen
    std::string_view server{};      // origin server address used, "" when none
    long connect_ms = -1;           // -1 = no connect (pooled connection or no origin)
    long first_byte_ms = -1;        // request sent -> response head received
    long total_ms = 0;
    std::string_view ray_id{};
    std::string_view failure{};     // typed failure name, "" on success
    std::string_view phase{};       // the phase that failed: "dns", "connect", "request", "response", ...
    std::string_view detail{};      // on failures: what the edge saw (the diagnosis line)
    std::uint64_t bytes_sent = 0;   // bytes written to the client for this exchange, head + body
    std::string_view cut{};         // "" = the response was complete; else why it was cut:
                                    // "write_timeout", "drain", "client_closed", "origin_failed"
    std::string_view fault{};       // emulated fault applied, "" = none
    std::string_view fault_id{};    // which configured fault, "" = none
    unsigned http_version = 11;     // the request's, as Beast counts it: 10, 11; 0 = unknown
};

enum class access_log_format { text, json };

// Opens `destination` (a file for append, created 0644; a FIFO without a reader is an error rather
// than a hang) and starts the writer thread; "off" starts nothing and makes log_access() return at
// once. Returns "" or one message for the operator ("cannot open access log PATH: REASON").
// Calling it again first shuts the previous log down. Call before the worker threads start.
std::string init_access_log(config::access_log_destination const& destination, access_log_format format);

// SIGUSR1: the writer reopens the file path (log rotation); a failure is logged and the old file
// kept. No-op for stdout and off. Safe from any thread; returns at once.
void reopen_access_log() noexcept;

// Stops the writer after it has written every buffered line. Waits as long as the destination keeps
// taking data; gives up when it took nothing for `stall_limit` (a pipe nobody reads), then logs what
// was lost. Logs the number of dropped lines, if any. Call after the worker threads are joined.
void shutdown_access_log(std::chrono::milliseconds stall_limit = std::chrono::seconds(2));

// Lines that never reached the destination since start: dropped on a full worker buffer, lost to a
// write error, or unwritten at exit. For /metrics.
std::uint64_t access_log_dropped() noexcept;

// False when the log is off: a caller may skip building the entry.
bool access_log_enabled() noexcept;

// Formats `e` and appends it to this thread's buffer; never blocks on I/O or another worker.
void log_access(access_entry const& e);

// Appends the line for `e`, with its '\n', to `out`. For tests and benchmarks.
//   text: TIME CLIENT HOST "METHOD TARGET" STATUS origin= server= connect_ms= first_byte_ms=
//         total_ms= ray= bytes= http= [cut=] [fault=] [fault_id=] [failure= phase= detail="..."]
//         Every byte outside 0x21..0x7e, and '"' and '\', is written \xHH (nginx's escaping);
//         detail keeps its spaces. Empty CLIENT, HOST, METHOD, TARGET are written "-".
//   json: one object; strings escaped per RFC 8259, valid UTF-8 passed through, each byte that is
//         not part of valid UTF-8 written \u00XX (so it reads back as U+0080..U+00FF).
//   Fields are cut at a bound (target 8 KiB, detail 2 KiB, host 1 KiB, others 256 bytes) and then
//   end in "...[cut,len=N]" with N the original length.
void format_access_line(access_entry const& e, access_log_format format,
                        std::chrono::system_clock::time_point now, std::string& out);

} // namespace edge522
