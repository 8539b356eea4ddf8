#include "proxy/access_log.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace edge522 {

namespace {
bool json_format = false;
std::shared_ptr<spdlog::logger> access_logger;
} // namespace

void init_access_log(bool json) {
    json_format = json;
    access_logger = spdlog::get("access");
    if (!access_logger) access_logger = spdlog::stdout_logger_mt("access");
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
        }
        access_logger->info(boost::json::serialize(o));
        return;
    }
    if (e.failure.empty())
        access_logger->info("{} {} \"{} {}\" {} origin={} server={} connect_ms={} first_byte_ms={} total_ms={} ray={}",
                            e.client, e.host, e.method, e.target, e.status, e.origin, e.server,
                            e.connect_ms, e.first_byte_ms, e.total_ms, e.ray_id);
    else
        access_logger->info("{} {} \"{} {}\" {} origin={} server={} connect_ms={} first_byte_ms={} total_ms={} ray={} failure={} phase={}",
                            e.client, e.host, e.method, e.target, e.status, e.origin, e.server,
                            e.connect_ms, e.first_byte_ms, e.total_ms, e.ray_id, e.failure, e.phase);
}

} // namespace edge522
