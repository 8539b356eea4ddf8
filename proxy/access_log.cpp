#include "proxy/access_log.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <memory>
#include <mutex>

namespace edge522 {

namespace {

// stdout, buffered: spdlog's stdout sink fflush()es every line, a write(2) per request. This one
// writes when 32 KiB have gathered, on flush (every second, see init_access_log) and at exit.
class buffered_stdout_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    ~buffered_stdout_sink() override { write_out(); }

protected:
    void sink_it_(spdlog::details::log_msg const& msg) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        buffer_.append(formatted.data(), formatted.size());
        if (buffer_.size() >= 32 * 1024) write_out();
    }
    void flush_() override { write_out(); }

private:
    void write_out() {
        std::size_t off = 0;
        while (off < buffer_.size()) {
            ssize_t n = ::write(STDOUT_FILENO, buffer_.data() + off, buffer_.size() - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;  // stdout gone: drop the lines rather than block the data path
            off += static_cast<std::size_t>(n);
        }
        buffer_.clear();
    }
    std::string buffer_;
};

bool json_format = false;
std::shared_ptr<spdlog::logger> access_logger;
// The text format's detail="..." value: quotes and backslashes escaped, control bytes dropped
// (a Host header or a rule name could carry them).
std::string quoted(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) continue;
        out += c;
    }
    return out;
}

} // namespace

void init_access_log(bool json) {
    json_format = json;
    access_logger = spdlog::get("access");
    if (!access_logger) {
        access_logger = std::make_shared<spdlog::logger>("access", std::make_shared<buffered_stdout_sink>());
        spdlog::register_logger(access_logger);
    }
    // The line carries its own fields; spdlog adds only the timestamp (text) or nothing (json).
    access_logger->set_pattern(json ? "%v" : "%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc);
    access_logger->set_level(spdlog::level::info);
    // Buffered like nginx's `access_log ... buffer=`: a write per request would cost as much as the
    // proxying itself. The buffer is flushed every second and at exit.
    access_logger->flush_on(spdlog::level::err);
    spdlog::flush_every(std::chrono::seconds(1));
}

void log_access(access_entry const& e) {
    if (!access_logger || !access_logger->should_log(spdlog::level::info)) return;
    if (json_format) {
        boost::json::object o;
        o["client"] = e.client;
        o["host"] = e.host;
        o["method"] = e.method;
        o["path"] = e.target;
        o["status"] = e.status;
        o["origin"] = e.origin;
        o["server"] = e.server;
        o["connect_ms"] = e.connect_ms;
        o["first_byte_ms"] = e.first_byte_ms;
        o["total_ms"] = e.total_ms;
        o["ray"] = e.ray_id;
        if (!e.failure.empty()) {
            o["failure"] = e.failure;
            o["phase"] = e.phase;
            o["detail"] = e.detail;
        }
        access_logger->info(boost::json::serialize(o));
        return;
    }
    if (e.failure.empty())
        access_logger->info("{} {} \"{} {}\" {} origin={} server={} connect_ms={} first_byte_ms={} total_ms={} ray={}",
                            e.client, e.host, e.method, e.target, e.status, e.origin, e.server,
                            e.connect_ms, e.first_byte_ms, e.total_ms, e.ray_id);
    else
        access_logger->info("{} {} \"{} {}\" {} origin={} server={} connect_ms={} first_byte_ms={} total_ms={} ray={} failure={} phase={} detail=\"{}\"",
                            e.client, e.host, e.method, e.target, e.status, e.origin, e.server,
                            e.connect_ms, e.first_byte_ms, e.total_ms, e.ray_id, e.failure, e.phase, quoted(e.detail));
}

} // namespace edge522
