#pragma once
// `edge522 demo`: a self-contained showcase. The edge (the real server, from a generated config)
// plus built-in demo origins on loopback, one per case:
//   ok.localhost -> 200    down.localhost -> 521    timeout.localhost -> 522
//   slow.localhost -> 524  broken.localhost -> 520
// Prints one curl line and one URL per case. Ctrl-C drains and exits 0.

#include <string>

namespace edge522::tools {

int run_demo(std::string const& listen);

} // namespace edge522::tools
