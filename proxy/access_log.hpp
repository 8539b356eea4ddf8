#pragma once
// One access-log line per exchange, on the "access" spdlog logger (stdout), as text or JSON.
// Called on the worker thread at the end of each exchange.

#include <string_view>

namespace edge522 {

struct access_entry {
    std::string_view client;        // client ip
    std::string_view host;
    std::string_view method;
    std::string_view target;
    unsigned status = 0;            // what the client got; 0 = nothing (connection dropped)
    std::string_view origin;        // origin name, "" when none was chosen
    std::string_view server;        // origin server address used, "" when none
    long connect_ms = -1;           // -1 = no connect (pooled connection or no origin)
    long first_byte_ms = -1;        // request sent -> response head received
    long total_ms = 0;
    std::string_view ray_id;
    std::string_view failure;       // typed failure name, "" on success
    std::string_view phase;         // the phase that failed: "dns", "connect", "request", "response", ...
    std::string_view detail;        // on failures: what the edge saw (the diagnosis line)
};

void init_access_log(bool json);
void log_access(access_entry const& e);

} // namespace edge522
