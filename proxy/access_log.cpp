#include "proxy/access_log.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace edge522 {

namespace {

// ---------------------------------------------------------------------------------------------
// Formatting: by hand, into a buffer sized for the longest possible line, so that no piece pays
// for a capacity check (std::string::append per piece cost as much as the rest together).

constexpr std::size_t target_limit = 8 * 1024;
constexpr std::size_t detail_limit = 2 * 1024;
constexpr std::size_t host_limit = 1024;
constexpr std::size_t field_limit = 256;

// 13 string fields, each escaped at most x6 (\u00XX), each with at most one cut marker; numbers,
// keys and punctuation well under 1 KiB.
constexpr std::size_t string_fields_input = target_limit + detail_limit + host_limit + 10 * field_limit;
constexpr std::size_t cut_marker_max = 13 + 20 + 1;  // "...[cut,len=" + digits + "]"
constexpr std::size_t max_line_size = 6 * string_fields_input + 13 * cut_marker_max + 1024;

constexpr char hex_upper[] = "0123456789ABCDEF";
constexpr char hex_lower[] = "0123456789abcdef";

// Bytes the text format writes as they are: visible ASCII but '"' and '\'.
constexpr std::array<bool, 256> make_text_safe() {
    std::array<bool, 256> t{};
    for (int c = 0x21; c < 0x7f; ++c) t[c] = c != '"' && c != '\\';
    return t;
}
constexpr auto text_safe = make_text_safe();

// Bytes the JSON format writes as they are: printable ASCII but '"' and '\'.
constexpr std::array<bool, 256> make_json_safe() {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 0x7f; ++c) t[c] = c != '"' && c != '\\';
    return t;
}
constexpr auto json_safe = make_json_safe();

constexpr std::array<bool, 256> make_text_or_space_safe() {
    auto t = make_text_safe();
    t[' '] = true;
    return t;
}
constexpr auto text_or_space_safe = make_text_or_space_safe();

// Eight bytes at a time: true when none is below `Low`, above 0x7e, '"' or '\'. (The classic
// has-less / has-zero bit tricks: exact as a yes/no answer for the whole word.)
template <unsigned Low>
bool word_safe(unsigned char const* s) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ull;
    constexpr std::uint64_t highs = 0x8080808080808080ull;
    std::uint64_t x;
    std::memcpy(&x, s, sizeof x);
    std::uint64_t const low = (x - ones * Low) & ~x & highs;
    std::uint64_t const high = ((x + ones) | x) & highs;  // a byte >= 0x7f
    std::uint64_t const q = x ^ (ones * '"');
    std::uint64_t const b = x ^ (ones * '\\');
    std::uint64_t const quote = (q - ones) & ~q & highs;
    std::uint64_t const backslash = (b - ones) & ~b & highs;
    return (low | high | quote | backslash) == 0;
}

// Whether every byte of [s, end) is safe, a word at a time (the last word overlapping the one before;
// under 8 bytes, by the table).
template <unsigned Low>
bool all_safe(unsigned char const* s, unsigned char const* end, std::array<bool, 256> const& safe) noexcept {
    if (end - s < 8) {
        for (; s < end; ++s)
            if (!safe[*s]) return false;
        return true;
    }
    for (; end - s > 8; s += 8)
        if (!word_safe<Low>(s)) return false;
    return word_safe<Low>(end - 8);
}

// The end of the run of safe bytes that starts at s.
template <unsigned Low>
unsigned char const* safe_run(unsigned char const* s, unsigned char const* end,
                              std::array<bool, 256> const& safe) noexcept {
    while (end - s >= 8 && word_safe<Low>(s)) s += 8;
    while (s < end && safe[*s]) ++s;
    return s;
}

// `v` cut to `limit` bytes (backed off so as not to split a UTF-8 sequence), and whether it was cut.
std::string_view bounded(std::string_view v, std::size_t limit, bool& was_cut) {
    was_cut = v.size() > limit;
    if (!was_cut) return v;
    std::size_t n = limit;
    for (int i = 0; i < 3 && n > 0 && (static_cast<unsigned char>(v[n]) & 0xc0) == 0x80; ++i) --n;
    return v.substr(0, n);
}

// Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0 when it is not one
// (overlong forms, surrogates and code points above U+10FFFF are not valid).
std::size_t utf8_sequence(unsigned char const* p, unsigned char const* end) {
    auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
        return p + i < end && p[i] >= lo && p[i] <= hi;
    };
    unsigned char const b = *p;
    if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
    if (b == 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
    if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) return cont(1) && cont(2) ? 3 : 0;
    if (b == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
    if (b == 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (b >= 0xf1 && b <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (b == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}

// Writes into a buffer of max_line_size bytes: every field is bounded, so no check per piece.
class line_writer {
public:
    explicit line_writer(char* p) noexcept : p_(p) {}
    char* position() const noexcept { return p_; }

    void put(char c) noexcept { *p_++ = c; }
    template <std::size_t N>
    void lit(char const (&s)[N]) noexcept {
        std::memcpy(p_, s, N - 1);
        p_ += N - 1;
    }
    void raw(void const* s, std::size_t n) noexcept {
        std::memcpy(p_, s, n);
        p_ += n;
    }
    // The same without a call for the short pieces a line is made of (addresses, a method, a ray
    // id): two fixed-size moves that overlap.
    void raw_short(unsigned char const* s, std::size_t n) noexcept {
        if (n >= 8 && n <= 16) {
            std::memcpy(p_, s, 8);
            std::memcpy(p_ + n - 8, s + n - 8, 8);
        } else if (n >= 4 && n < 8) {
            std::memcpy(p_, s, 4);
            std::memcpy(p_ + n - 4, s + n - 4, 4);
        } else if (n < 4) {
            for (std::size_t i = 0; i < n; ++i) p_[i] = static_cast<char>(s[i]);
        } else {
            std::memcpy(p_, s, n);
        }
        p_ += n;
    }
    void number(std::int64_t v) noexcept { p_ = std::to_chars(p_, p_ + 24, v).ptr; }
    void number(std::uint64_t v) noexcept { p_ = std::to_chars(p_, p_ + 24, v).ptr; }

    void cut_marker(std::size_t original) noexcept {
        lit("...[cut,len=");
        number(static_cast<std::uint64_t>(original));
        put(']');
    }

    // nginx's escaping: every unsafe byte as \xHH. KeepSpace for the quoted free-text field.
    template <bool KeepSpace = false>
    void text(std::string_view v, std::size_t limit, bool dash_if_empty = false) noexcept {
        if (v.empty()) {
            if (dash_if_empty) put('-');
            return;
        }
        bool was_cut = false;
        auto const original = v.size();
        v = bounded(v, limit, was_cut);
        auto const* s = reinterpret_cast<unsigned char const*>(v.data());
        auto const* end = s + v.size();
        if (KeepSpace ? all_safe<0x20>(s, end, text_or_space_safe) : all_safe<0x21>(s, end, text_safe)) {
            raw_short(s, v.size());  // the usual field: nothing to escape
            s = end;
        }
        while (s < end) {
            auto const* run = s;
            s = KeepSpace ? safe_run<0x20>(s, end, text_or_space_safe) : safe_run<0x21>(s, end, text_safe);
            raw(run, static_cast<std::size_t>(s - run));
            if (s == end) break;
            p_[0] = '\\';
            p_[1] = 'x';
            p_[2] = hex_upper[*s >> 4];
            p_[3] = hex_upper[*s & 0xf];
            p_ += 4;
            ++s;
        }
        if (was_cut) cut_marker(original);
    }

    // A JSON string, quotes included. Valid UTF-8 passes through; a byte that is not part of valid
    // UTF-8 becomes \u00XX, so the line is valid JSON whatever the input.
    void json_string(std::string_view v, std::size_t limit) noexcept {
        bool was_cut = false;
        auto const original = v.size();
        v = bounded(v, limit, was_cut);
        put('"');
        auto const* s = reinterpret_cast<unsigned char const*>(v.data());
        auto const* end = s + v.size();
        while (s < end) {
            auto const* run = s;
            s = safe_run<0x20>(s, end, json_safe);
            raw(run, static_cast<std::size_t>(s - run));
            if (s == end) break;
            unsigned char const b = *s;
            if (b >= 0x80) {
                if (std::size_t n = utf8_sequence(s, end); n != 0) {
                    raw(s, n);
                    s += n;
                    continue;
                }
            }
            switch (b) {
            case '"': lit("\\\""); break;
            case '\\': lit("\\\\"); break;
            case '\n': lit("\\n"); break;
            case '\r': lit("\\r"); break;
            case '\t': lit("\\t"); break;
            case '\b': lit("\\b"); break;
            case '\f': lit("\\f"); break;
            default:
                lit("\\u00");
                put(hex_lower[b >> 4]);
                put(hex_lower[b & 0xf]);
            }
            ++s;
        }
        if (was_cut) cut_marker(original);
        put('"');
    }

    void http_version(unsigned v) noexcept {
        if (v == 0 || v > 99) {
            put('-');
            return;
        }
        put(static_cast<char>('0' + v / 10));
        put('.');
        put(static_cast<char>('0' + v % 10));
    }

    // "2024-05-01T12:00:00.123Z ", the seconds part formatted once per second per thread.
    void time(std::chrono::system_clock::time_point now) noexcept {
        thread_local std::time_t cached_second = -1;
        thread_local char cached[20];
        auto const ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
        auto const second = static_cast<std::time_t>(ms / 1000);
        if (second != cached_second) {
            std::tm tm{};
            ::gmtime_r(&second, &tm);
            std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
            cached_second = second;
        }
        raw(cached, 19);
        auto const milli = static_cast<int>(ms % 1000);
        p_[0] = '.';
        p_[1] = static_cast<char>('0' + milli / 100);
        p_[2] = static_cast<char>('0' + milli / 10 % 10);
        p_[3] = static_cast<char>('0' + milli % 10);
        p_[4] = 'Z';
        p_[5] = ' ';
        p_ += 6;
    }

private:
    char* p_;
};

void format_text(access_entry const& e, std::chrono::system_clock::time_point now, line_writer& w) {
    w.time(now);
    w.text(e.client, field_limit, true);
    w.put(' ');
    w.text(e.host, host_limit, true);
    w.lit(" \"");
    w.text(e.method, field_limit, true);
    w.put(' ');
    w.text(e.target, target_limit, true);
    w.lit("\" ");
    w.number(std::uint64_t{e.status});
    w.lit(" origin=");
    w.text(e.origin, field_limit);
    w.lit(" server=");
    w.text(e.server, field_limit);
    w.lit(" connect_ms=");
    w.number(std::int64_t{e.connect_ms});
    w.lit(" first_byte_ms=");
    w.number(std::int64_t{e.first_byte_ms});
    w.lit(" total_ms=");
    w.number(std::int64_t{e.total_ms});
    w.lit(" ray=");
    w.text(e.ray_id, field_limit);
    w.lit(" bytes=");
    w.number(e.bytes_sent);
    w.lit(" http=");
    w.http_version(e.http_version);
    if (!e.cut.empty()) {
        w.lit(" cut=");
        w.text(e.cut, field_limit);
    }
    if (!e.fault.empty()) {
        w.lit(" fault=");
        w.text(e.fault, field_limit);
    }
    if (!e.fault_id.empty()) {
        w.lit(" fault_id=");
        w.text(e.fault_id, field_limit);
    }
    if (!e.failure.empty()) {
        w.lit(" failure=");
        w.text(e.failure, field_limit);
        w.lit(" phase=");
        w.text(e.phase, field_limit);
        w.lit(" detail=\"");
        w.text<true>(e.detail, detail_limit);
        w.put('"');
    }
    w.put('\n');
}

void format_json(access_entry const& e, line_writer& w) {
    w.lit("{\"client\":");
    w.json_string(e.client, field_limit);
    w.lit(",\"host\":");
    w.json_string(e.host, host_limit);
    w.lit(",\"method\":");
    w.json_string(e.method, field_limit);
    w.lit(",\"path\":");
    w.json_string(e.target, target_limit);
    w.lit(",\"status\":");
    w.number(std::uint64_t{e.status});
    w.lit(",\"origin\":");
    w.json_string(e.origin, field_limit);
    w.lit(",\"server\":");
    w.json_string(e.server, field_limit);
    w.lit(",\"connect_ms\":");
    w.number(std::int64_t{e.connect_ms});
    w.lit(",\"first_byte_ms\":");
    w.number(std::int64_t{e.first_byte_ms});
    w.lit(",\"total_ms\":");
    w.number(std::int64_t{e.total_ms});
    w.lit(",\"ray\":");
    w.json_string(e.ray_id, field_limit);
    w.lit(",\"bytes_sent\":");
    w.number(e.bytes_sent);
    w.lit(",\"http_version\":\"");
    w.http_version(e.http_version);
    w.put('"');
    if (!e.cut.empty()) {
        w.lit(",\"cut\":");
        w.json_string(e.cut, field_limit);
    }
    if (!e.fault.empty()) {
        w.lit(",\"fault\":");
        w.json_string(e.fault, field_limit);
    }
    if (!e.fault_id.empty()) {
        w.lit(",\"fault_id\":");
        w.json_string(e.fault_id, field_limit);
    }
    if (!e.failure.empty()) {
        w.lit(",\"failure\":");
        w.json_string(e.failure, field_limit);
        w.lit(",\"phase\":");
        w.json_string(e.phase, field_limit);
        w.lit(",\"detail\":");
        w.json_string(e.detail, detail_limit);
    }
    w.lit("}\n");
}

// This thread's formatting space (max_line_size), made on first use.
char* line_space() {
    thread_local std::unique_ptr<char[]> space(new char[max_line_size]);
    return space.get();
}

// The line for `e` in line_space(); returns its length.
std::size_t format_line(access_entry const& e, access_log_format format, std::chrono::system_clock::time_point now) {
    char* const begin = line_space();
    line_writer w(begin);
    if (format == access_log_format::json) format_json(e, w);
    else format_text(e, now, w);
    return static_cast<std::size_t>(w.position() - begin);
}

// ---------------------------------------------------------------------------------------------
// Buffers and the writer

constexpr std::size_t buffer_limit = 1024 * 1024;  // per worker thread
constexpr std::size_t wake_threshold = 32 * 1024;  // the writer is woken when a buffer passes this
constexpr int flush_interval_ms = 1000;

// One per thread that logs. The owner appends, the writer swaps `lines` with `out` and writes `out`.
struct thread_buffer {
    std::mutex mutex;                        // this thread and the writer only, held for O(1)/memcpy
    std::string lines;                       // guarded by mutex
    std::string out;                         // writer only
    std::atomic<std::uint64_t> dropped{0};   // written by the owner thread only
    std::atomic<bool> orphaned{false};       // the owner thread has exited
};

// The process-wide state. Leaked on purpose: a writer stuck in write(2) at exit is detached and may
// outlive main(); it must never touch a destroyed object.
struct log_core {
    std::atomic<bool> enabled{false};
    std::atomic<access_log_format> format{access_log_format::text};

    std::mutex registry_mutex;  // the list only: taken once per thread, and by the writer to copy it
    std::vector<std::shared_ptr<thread_buffer>> buffers;
    std::uint64_t retired_dropped = 0;       // dropped counts of removed buffers; registry_mutex

    std::atomic<std::uint64_t> lost{0};      // lines lost to write errors or left at exit
    std::atomic<std::uint64_t> progress{0};  // bytes written, for the stall check at shutdown
    std::atomic<bool> wake_pending{false};
    std::atomic<bool> reopen_requested{false};
    std::atomic<bool> stop_requested{false};
    int wake_fd = -1;                        // eventfd, non-blocking: workers never wait on it

    // The writer's destination; set before the writer starts, then the writer's alone.
    int fd = -1;
    bool own_fd = false;
    std::string path;

    std::thread writer;
    std::mutex done_mutex;
    std::condition_variable done_cv;
    bool done = false;                       // done_mutex
    bool stuck = false;                      // a detached writer still blocked: no restart
};

log_core& core() {
    static log_core* c = new log_core;
    return *c;
}

void wake_writer(log_core& c) noexcept {
    if (c.wake_fd < 0) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(c.wake_fd, &one, sizeof one);  // EAGAIN only at 2^64-2 wakes
}

// Registers this thread's buffer on first use; marks it orphaned when the thread exits, and the
// writer removes it once written.
struct thread_slot {
    std::shared_ptr<thread_buffer> buffer;
    ~thread_slot() {
        if (buffer) buffer->orphaned.store(true, std::memory_order_release);
    }
};

thread_buffer& this_thread_buffer() {
    thread_local thread_slot slot;
    if (!slot.buffer) {
        slot.buffer = std::make_shared<thread_buffer>();
        slot.buffer->lines.reserve(64 * 1024);
        auto& c = core();
        std::lock_guard lock(c.registry_mutex);
        c.buffers.push_back(slot.buffer);
    }
    return *slot.buffer;
}

std::size_t count_lines(std::string_view data) {
    return static_cast<std::size_t>(std::count(data.begin(), data.end(), '\n'));
}

// Blocking write of everything; on an error the rest is counted as lost. A non-blocking descriptor
// (inherited that way) is waited for with poll.
void write_all(log_core& c, std::string_view data) {
    static std::chrono::steady_clock::time_point last_error_log{};
    while (!data.empty()) {
        ssize_t n = ::write(c.fd, data.data(), data.size());
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            c.progress.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{c.fd, POLLOUT, 0};
            ::poll(&p, 1, 100);
            continue;
        }
        int const err = n < 0 ? errno : EIO;
        c.lost.fetch_add(count_lines(data), std::memory_order_relaxed);
        auto now = std::chrono::steady_clock::now();
        if (now - last_error_log > std::chrono::seconds(10)) {
            last_error_log = now;
            spdlog::error("access log: write to {} failed: {}; lines lost", c.path, std::strerror(err));
        }
        return;
    }
}

void reopen(log_core& c) {
    if (!c.own_fd) return;
    int fd = ::open(c.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) {
        spdlog::error("access log: cannot reopen {}: {}; still writing to the old file", c.path,
                      std::strerror(errno));
        return;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    ::close(c.fd);
    c.fd = fd;
    spdlog::info("access log: reopened {}", c.path);
}

// Swaps every buffer out and writes it; forgets the buffers of exited threads once empty.
void flush_all(log_core& c) {
    std::vector<std::shared_ptr<thread_buffer>> list;
    {
        std::lock_guard lock(c.registry_mutex);
        list = c.buffers;
    }
    bool any_orphan = false;
    for (auto& b : list) {
        bool const orphaned = b->orphaned.load(std::memory_order_acquire);
        {
            std::lock_guard lock(b->mutex);
            b->lines.swap(b->out);
        }
        if (!b->out.empty()) write_all(c, b->out);
        b->out.clear();
        if (b->out.capacity() > buffer_limit * 2) std::string().swap(b->out);
        any_orphan = any_orphan || orphaned;
    }
    if (!any_orphan) return;
    std::lock_guard lock(c.registry_mutex);
    std::erase_if(c.buffers, [&](auto const& b) {
        if (!b->orphaned.load(std::memory_order_acquire)) return false;
        std::lock_guard block(b->mutex);
        if (!b->lines.empty()) return false;
        c.retired_dropped += b->dropped.load(std::memory_order_relaxed);
        return true;
    });
}

std::uint64_t dropped_total(log_core& c) {
    std::lock_guard lock(c.registry_mutex);
    std::uint64_t n = c.retired_dropped + c.lost.load(std::memory_order_relaxed);
    for (auto const& b : c.buffers) n += b->dropped.load(std::memory_order_relaxed);
    return n;
}

void writer_main(log_core& c) {
    // Signals go to the other threads; a SIGPIPE from a closed stdout becomes EPIPE here.
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::uint64_t reported = 0;
    auto last_report = std::chrono::steady_clock::now();
    for (;;) {
        pollfd p{c.wake_fd, POLLIN, 0};
        ::poll(&p, 1, flush_interval_ms);
        std::uint64_t count = 0;
        [[maybe_unused]] auto n = ::read(c.wake_fd, &count, sizeof count);
        c.wake_pending.store(false, std::memory_order_relaxed);
        if (c.reopen_requested.exchange(false)) reopen(c);
        bool const stop = c.stop_requested.load(std::memory_order_acquire);
        flush_all(c);
        if (stop) break;
        if (auto now = std::chrono::steady_clock::now(); now - last_report >= std::chrono::seconds(10)) {
            last_report = now;
            if (auto d = dropped_total(c); d != reported) {
                spdlog::warn("access log: {} more line(s) dropped: {} does not keep up ({} since start)",
                             d - reported, c.path, d);
                reported = d;
            }
        }
    }
    std::lock_guard lock(c.done_mutex);
    c.done = true;
    c.done_cv.notify_all();
}

} // namespace

void format_access_line(access_entry const& e, access_log_format format,
                        std::chrono::system_clock::time_point now, std::string& out) {
    out.append(line_space(), format_line(e, format, now));
}

std::string init_access_log(config::access_log_destination const& destination, access_log_format format) {
    auto& c = core();
    shutdown_access_log();
    if (c.stuck) return "access log: the previous writer is still blocked writing; cannot restart the log";
    using kind = config::access_log_destination::kind;
    if (destination.where == kind::off) return {};

    if (destination.where == kind::file) {
        // O_NONBLOCK for the open only: a FIFO without a reader fails (ENXIO) instead of hanging.
        int fd = ::open(destination.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
        if (fd < 0)
            return "cannot open access log " + destination.path + " for append: " + std::strerror(errno);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        c.fd = fd;
        c.own_fd = true;
        c.path = destination.path;
    } else {
        c.fd = STDOUT_FILENO;
        c.own_fd = false;
        c.path = "stdout";
    }
    if (c.wake_fd < 0) {
        c.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (c.wake_fd < 0) {
            std::string err = std::string("access log: eventfd: ") + std::strerror(errno);
            if (c.own_fd) ::close(c.fd);
            c.fd = -1;
            return err;
        }
    }
    c.stop_requested.store(false);
    c.reopen_requested.store(false);
    c.done = false;
    c.writer = std::thread([&c] { writer_main(c); });
    c.format.store(format, std::memory_order_relaxed);
    c.enabled.store(true, std::memory_order_release);
    return {};
}

void reopen_access_log() noexcept {
    auto& c = core();
    if (!c.enabled.load(std::memory_order_acquire)) return;
    c.reopen_requested.store(true);
    wake_writer(c);
}

void shutdown_access_log(std::chrono::milliseconds stall_limit) {
    auto& c = core();
    if (!c.writer.joinable()) return;
    c.enabled.store(false, std::memory_order_release);
    c.stop_requested.store(true, std::memory_order_release);
    wake_writer(c);
    std::unique_lock lock(c.done_mutex);
    auto last_progress = c.progress.load();
    auto last_change = std::chrono::steady_clock::now();
    while (!c.done) {
        c.done_cv.wait_for(lock, std::chrono::milliseconds(50));
        auto p = c.progress.load();
        auto now = std::chrono::steady_clock::now();
        if (p != last_progress) {
            last_progress = p;
            last_change = now;
        } else if (!c.done && now - last_change >= stall_limit) {
            break;
        }
    }
    bool const finished = c.done;
    lock.unlock();
    if (finished) {
        c.writer.join();
        if (c.own_fd) ::close(c.fd);
        c.fd = -1;
    } else {
        // Nobody reads the destination: leave the writer blocked in write(2); the process is exiting.
        c.writer.detach();
        c.stuck = true;
        std::uint64_t left = 0;
        {
            std::lock_guard rl(c.registry_mutex);
            for (auto const& b : c.buffers) {
                std::lock_guard bl(b->mutex);
                left += count_lines(b->lines);
            }
        }
        c.lost.fetch_add(left, std::memory_order_relaxed);
        spdlog::error("access log: {} took no data for {} ms; giving up on the buffered lines", c.path,
                      stall_limit.count());
    }
    if (auto d = dropped_total(c); d != 0)
        spdlog::warn("access log: {} line(s) dropped since start ({} did not keep up)", d, c.path);
}

std::uint64_t access_log_dropped() noexcept { return dropped_total(core()); }

bool access_log_enabled() noexcept { return core().enabled.load(std::memory_order_relaxed); }

void log_access(access_entry const& e) {
    auto& c = core();
    if (!c.enabled.load(std::memory_order_acquire)) return;
    std::size_t const n = format_line(e, c.format.load(std::memory_order_relaxed), std::chrono::system_clock::now());
    auto& b = this_thread_buffer();
    std::size_t size = 0;
    {
        std::lock_guard lock(b.mutex);
        if (b.lines.size() + n > buffer_limit) {
            b.dropped.store(b.dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            return;
        }
        b.lines.append(line_space(), n);
        size = b.lines.size();
    }
    if (size >= wake_threshold && !c.wake_pending.load(std::memory_order_relaxed) &&
        !c.wake_pending.exchange(true, std::memory_order_relaxed))
        wake_writer(c);
}

} // namespace edge522
