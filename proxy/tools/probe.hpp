#pragma once
// `edge522 probe TARGET`: diagnose an origin the way the edge would meet it. TARGET is host:port,
// or an http:// or https:// URL (then one GET is sent and its response head judged too: 520/524).
// HTTPS (an https:// URL, or --tls): the TLS handshake as the edge makes it (525 when it fails),
// the certificate's subject, issuer, expiry and names, and strict verification's verdict (526 under
// --tls-verify strict). Prints the code an edge would answer, the measured DNS / handshake /
// first-byte times, the cause and the fix.

#include "config/config.hpp"

#include <chrono>
#include <string>

namespace edge522::tools {

struct probe_options {
    std::string target;
    std::chrono::milliseconds connect_timeout{19000};
    std::chrono::milliseconds read_timeout{125000};
    std::string from;  // source address to bind, "" = the kernel's choice
    bool json = false;
    bool https = false;  // --tls: TLS to a host:port target
    std::chrono::milliseconds tls_timeout{10000};  // the TLS handshake's deadline (the edge's tls_handshake)
    config::tls_verify tls_verify = config::tls_verify::strict;  // probe's default: tell what strict would say
    std::string sni;     // "" = the host
    std::string tls_ca;  // "" = the system store
};

// Exit code: 0 when reachable, 1 otherwise, 2 for a bad target or option.
int run_probe(probe_options const& o);

} // namespace edge522::tools
