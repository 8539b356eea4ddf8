#pragma once
// `edge522 probe TARGET`: diagnose an origin the way the edge would meet it. TARGET is host:port,
// or an http:// URL (then one GET is sent and its response head judged too: 520/524). Prints the
// code an edge would answer, the measured DNS / handshake / first-byte times, the cause and the fix.

#include <chrono>
#include <string>

namespace edge522::tools {

struct probe_options {
    std::string target;
    std::chrono::milliseconds connect_timeout{19000};
    std::chrono::milliseconds read_timeout{125000};
    std::string from;  // source address to bind, "" = the kernel's choice
    bool json = false;
};

// Exit code: 0 when reachable, 1 otherwise, 2 for a bad target or option.
int run_probe(probe_options const& o);

} // namespace edge522::tools
