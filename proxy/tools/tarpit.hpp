#pragma once
// `edge522 tarpit`: a test origin without root, to measure any client's connect timeout.
//   blackhole  never completes TCP handshakes (listen backlog 0, the queue filled by one connect
//              that is never accepted: the kernel drops further SYNs, clients hang in SYN-SENT)
//   refuse     bound, never listening: every SYN gets a RST (ECONNREFUSED)
//   silent     accepts, reads and discards, never answers
// Prints "tarpit listening on HOST:PORT" (the bound port, also for port 0) per listener, flushed.

#include <string>
#include <vector>

namespace edge522::tools {

// Runs until SIGINT/SIGTERM; returns the exit code (2 when a listener cannot be set up).
int run_tarpit(std::vector<std::string> const& listen, std::string const& mode);

} // namespace edge522::tools
