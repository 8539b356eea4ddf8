#include "proxy/access_log.hpp"

#include <spdlog/sinks/null_sink.h>
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
// Formatting

constexpr std::size_t target_limit = 8 * 1024;
constexpr std::size_t detail_limit = 2 * 1024;
constexpr std::size_t host_limit = 1024;
constexpr std::size_t field_limit = 256;

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

// `v` cut to `limit` bytes (backed off so as not to split a UTF-8 sequence), and whether it was cut.
std::string_view bounded(std::string_view v, std::size_t limit, bool& was_cut) {
    was_cut = v.size() > limit;
    if (!was_cut) return v;
    std::size_t n = limit;
    for (int i = 0; i < 3 && n > 0 && (static_cast<unsigned char>(v[n]) & 0xc0) == 0x80; ++i) --n;
    return v.substr(0, n);
}

void append_number(std::string& out, std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_cut_marker(std::string& out, std::size_t original) {
    out.append("...[cut,len=");
    append_number(out, static_cast<std::int64_t>(original));
    out.push_back(']');
}

// nginx's escaping: every unsafe byte as \xHH. `keep_space` for the quoted free-text field.
void append_text(std::string& out, std::string_view v, std::size_t limit, bool keep_space = false,
                 bool dash_if_empty = false) {
    if (v.empty()) {
        if (dash_if_empty) out.push_back('-');
        return;
    }
    bool was_cut = false;
    auto const original = v.size();
    v = bounded(v, limit, was_cut);
    auto const* p = reinterpret_cast<unsigned char const*>(v.data());
    auto const* end = p + v.size();
    while (p < end) {
        auto const* run = p;
        while (p < end && (text_safe[*p] || (keep_space && *p == ' '))) ++p;
        out.append(reinterpret_cast<char const*>(run), static_cast<std::size_t>(p - run));
        if (p == end) break;
        char esc[4] = {'\\', 'x', hex_upper[*p >> 4], hex_upper[*p & 0xf]};
        out.append(esc, 4);
        ++p;
    }
    if (was_cut) append_cut_marker(out, original);
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

// A JSON string, quotes included. Valid UTF-8 passes through; a byte that is not part of valid
// UTF-8 becomes \u00XX, so the line is valid JSON whatever the input.
void append_json_string(std::string& out, std::string_view v, std::size_t limit) {
    bool was_cut = false;
    auto const original = v.size();
    v = bounded(v, limit, was_cut);
    out.push_back('"');
    auto const* p = reinterpret_cast<unsigned char const*>(v.data());
    auto const* end = p + v.size();
    while (p < end) {
        auto const* run = p;
        while (p < end && json_safe[*p]) ++p;
        out.append(reinterpret_cast<char const*>(run), static_cast<std::size_t>(p - run));
        if (p == end) break;
        unsigned char const b = *p;
        if (b >= 0x80) {
            if (std::size_t n = utf8_sequence(p, end); n != 0) {
                out.append(reinterpret_cast<char const*>(p), n);
                p += n;
                continue;
            }
        }
        switch (b) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        case '\b': out.append("\\b"); break;
        case '\f': out.append("\\f"); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex_lower[b >> 4], hex_lower[b & 0xf]};
            out.append(esc, 6);
        }
        }
        ++p;
    }
    if (was_cut) append_cut_marker(out, original);
    out.push_back('"');
}

void append_http_version(std::string& out, unsigned v) {
    if (v == 0 || v > 99) {
        out.push_back('-');
        return;
    }
    out.push_back(static_cast<char>('0' + v / 10));
    out.push_back('.');
    out.push_back(static_cast<char>('0' + v % 10));
}

// "2024-05-01T12:00:00.123Z", the seconds part formatted once per second per thread.
void append_time(std::string& out, std::chrono::system_clock::time_point now) {
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
    out.append(cached, 19);
    auto const milli = static_cast<int>(ms % 1000);
    char frac[6] = {'.', static_cast<char>('0' + milli / 100), static_cast<char>('0' + milli / 10 % 10),
                    static_cast<char>('0' + milli % 10), 'Z', ' '};
    out.append(frac, 6);
}

void format_text(access_entry const& e, std::chrono::system_clock::time_point now, std::string& out) {
    append_time(out, now);
    append_text(out, e.client, field_limit, false, true);
    out.push_back(' ');
    append_text(out, e.host, host_limit, false, true);
    out.append(" \"");
    append_text(out, e.method, field_limit, false, true);
    out.push_back(' ');
    append_text(out, e.target, target_limit, false, true);
    out.append("\" ");
    append_number(out, e.status);
    out.append(" origin=");
    append_text(out, e.origin, field_limit);
    out.append(" server=");
    append_text(out, e.server, field_limit);
    out.append(" connect_ms=");
    append_number(out, e.connect_ms);
    out.append(" first_byte_ms=");
    append_number(out, e.first_byte_ms);
    out.append(" total_ms=");
    append_number(out, e.total_ms);
    out.append(" ray=");
    append_text(out, e.ray_id, field_limit);
    out.append(" bytes=");
    append_number(out, static_cast<std::int64_t>(std::min<std::uint64_t>(e.bytes_sent, INT64_MAX)));
    out.append(" http=");
    append_http_version(out, e.http_version);
    if (!e.cut.empty()) {
        out.append(" cut=");
        append_text(out, e.cut, field_limit);
    }
    if (!e.fault.empty()) {
        out.append(" fault=");
        append_text(out, e.fault, field_limit);
    }
    if (!e.fault_id.empty()) {
        out.append(" fault_id=");
        append_text(out, e.fault_id, field_limit);
    }
    if (!e.failure.empty()) {
        out.append(" failure=");
        append_text(out, e.failure, field_limit);
        out.append(" phase=");
        append_text(out, e.phase, field_limit);
        out.append(" detail=\"");
        append_text(out, e.detail, detail_limit, true);
        out.push_back('"');
    }
    out.push_back('\n');
}

void format_json(access_entry const& e, std::string& out) {
    out.append("{\"client\":");
    append_json_string(out, e.client, field_limit);
    out.append(",\"host\":");
    append_json_string(out, e.host, host_limit);
    out.append(",\"method\":");
    append_json_string(out, e.method, field_limit);
    out.append(",\"path\":");
    append_json_string(out, e.target, target_limit);
    out.append(",\"status\":");
    append_number(out, e.status);
    out.append(",\"origin\":");
    append_json_string(out, e.origin, field_limit);
    out.append(",\"server\":");
    append_json_string(out, e.server, field_limit);
    out.append(",\"connect_ms\":");
    append_number(out, e.connect_ms);
    out.append(",\"first_byte_ms\":");
    append_number(out, e.first_byte_ms);
    out.append(",\"total_ms\":");
    append_number(out, e.total_ms);
    out.append(",\"ray\":");
    append_json_string(out, e.ray_id, field_limit);
    out.append(",\"bytes_sent\":");
    append_number(out, static_cast<std::int64_t>(std::min<std::uint64_t>(e.bytes_sent, INT64_MAX)));
    out.append(",\"http_version\":\"");
    append_http_version(out, e.http_version);
    out.push_back('"');
    if (!e.cut.empty()) {
        out.append(",\"cut\":");
        append_json_string(out, e.cut, field_limit);
    }
    if (!e.fault.empty()) {
        out.append(",\"fault\":");
        append_json_string(out, e.fault, field_limit);
    }
    if (!e.fault_id.empty()) {
        out.append(",\"fault_id\":");
        append_json_string(out, e.fault_id, field_limit);
    }
    if (!e.failure.empty()) {
        out.append(",\"failure\":");
        append_json_string(out, e.failure, field_limit);
        out.append(",\"phase\":");
        append_json_string(out, e.phase, field_limit);
        out.append(",\"detail\":");
        append_json_string(out, e.detail, detail_limit);
    }
    out.append("}\n");
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
    if (format == access_log_format::json) format_json(e, out);
    else format_text(e, now, out);
}

std::string init_access_log(config::access_log_destination const& destination, access_log_format format) {
    auto& c = core();
    shutdown_access_log();
    if (c.stuck) return "access log: the previous writer is still blocked writing; cannot restart the log";
    using kind = config::access_log_destination::kind;
    // cli.cpp silences the access log this way when log_level is above info.
    auto legacy = spdlog::get("access");
    if (destination.where == kind::off || (legacy && legacy->level() == spdlog::level::off)) return {};

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

void init_access_log(bool /*json: server::run() passes edge.log_format*/) {
    if (!spdlog::get("access"))
        spdlog::register_logger(std::make_shared<spdlog::logger>("access", std::make_shared<spdlog::sinks::null_sink_mt>()));
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
    thread_local std::string line;
    line.clear();
    format_access_line(e, c.format.load(std::memory_order_relaxed), std::chrono::system_clock::now(), line);
    auto& b = this_thread_buffer();
    std::size_t size = 0;
    {
        std::lock_guard lock(b.mutex);
        if (b.lines.size() + line.size() > buffer_limit) {
            b.dropped.store(b.dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            return;
        }
        b.lines.append(line);
        size = b.lines.size();
    }
    if (size >= wake_threshold && !c.wake_pending.load(std::memory_order_relaxed) &&
        !c.wake_pending.exchange(true, std::memory_order_relaxed))
        wake_writer(c);
    if (line.capacity() > 64 * 1024) std::string().swap(line);  // one huge line: give the room back
}

} // namespace edge522
