#pragma once
// `edge522 fault add|list|rm|reset`: the admin API's fault endpoints (SPEC section 6) from the
// command line. A plain client on the control path: one request per call, bounded in time (5 s)
// and size. Exit 0 on success, 1 with the API's error, 2 when the edge cannot be reached (or a
// bad option).

#include <optional>
#include <string>

namespace edge522::tools {

struct fault_cli_options {
    std::string admin = "127.0.0.1:9522";  // host:port of [admin].listen
    std::string token;                     // "" = EDGE522_ADMIN_TOKEN, if set
    std::string action;                    // add, list, rm, reset
    std::string origin;
    std::string type;                      // add
    std::string id;                        // rm: "" = every fault of the origin
    std::optional<std::string> probability, delay, jitter, path, schedule;  // add; schedule = "UP,DOWN"
};

int run_fault_cli(fault_cli_options o);

} // namespace edge522::tools
