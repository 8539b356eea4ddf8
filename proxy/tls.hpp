#pragma once
// TLS at both ends of the edge, on OpenSSL through Asio's ssl::stream.
//
//   control path (start, reload): build the contexts from the config; a file that does not load is
//     an error string (startup exits 2, a reload is rejected), never an exception out of here.
//   data path: set up an origin stream (SNI, name check, resumption), run the origin handshake under
//     its deadline and classify how it failed (525 or 526, and why, as a cause the words of
//     diagnosis.cpp describe). The client-side handshake runs under the session's watchdog.
//
// Session resumption toward origins: each worker keeps one SSL_SESSION per pool key (origin_pool's
// session slots); a new connection offers it, and every ticket the origin sends replaces it.

#include "config/config.hpp"
#include "proxy/failure.hpp"
#include "proxy/transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edge522::tls {

namespace ssl = boost::asio::ssl;

// The certificates of the edge's HTTPS listeners for one config generation: [edge] cert/key (the
// default) and [[edge.certs]], chosen by the client's SNI (first matching hosts pattern wins).
// ALPN: http/1.1.
class server_contexts {
public:
    // `cert`/`key`: the default pair (the config's, or the generated localhost pair).
    static std::shared_ptr<server_contexts> build(std::string const& cert, std::string const& key,
                                                  std::vector<config::edge_certificate> const& more,
                                                  std::string& error);
    ssl::context& context() noexcept { return *default_; }

private:
    struct entry {
        std::vector<std::string> hosts;
        std::unique_ptr<ssl::context> ctx;
    };
    static int on_servername(SSL* s, int* alert, void* arg);
    ssl::context* for_name(std::string_view host) noexcept;

    std::unique_ptr<ssl::context> default_;
    std::vector<entry> by_host_;
};

// Loads every certificate, key and CA file `cfg` names, as serving would: the errors (`edge522 check`).
std::vector<std::string> check_files(config::config const& cfg);

// A local CA and a certificate for localhost, 127.0.0.1 and ::1 signed by it (as mkcert does), for
// listen_tls without cert/key. Kept in a directory of the user's own ($XDG_RUNTIME_DIR/edge522, or
// /tmp/edge522-UID, mode 0700) and reused while valid, so that a browser or `curl --cacert` told to
// trust the CA once keeps trusting the edge across restarts.
struct local_certificate {
    std::string ca_cert;  // trust this one
    std::string cert;     // the edge presents this one
    std::string key;
    bool reused = false;
};
std::optional<local_certificate> make_local_certificate(std::string& error);

// An HTTPS origin's client context for one config generation: verify mode, trust store (tls_ca or
// the system's), resumption callback.
class origin_context {
public:
    // `inspect` (probe): the trust store and the name check are set up whatever the mode, so that
    // the strict verdict is known (handshake_result::verify_error) while the mode decides the code.
    static std::shared_ptr<origin_context> build(config::origin const& o, std::string& error, bool inspect = false);
    ssl::context& context() noexcept { return *ctx_; }
    config::tls_verify verify() const noexcept { return verify_; }
    bool checks_name() const noexcept { return verify_ == config::tls_verify::strict || inspect_; }
    std::string const& sni() const noexcept { return sni_; }

private:
    std::unique_ptr<ssl::context> ctx_;
    config::tls_verify verify_ = config::tls_verify::full;
    bool inspect_ = false;
    std::string sni_;
};

// One resumable session per pool key, owned by a worker (origin_pool).
struct session_deleter {
    void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using session_slot = std::unique_ptr<SSL_SESSION, session_deleter>;

// Why an origin handshake failed. The words are in diagnosis.cpp.
enum class cause {
    none,
    timeout,           // not complete within tls_handshake
    closed,            // the origin closed the connection mid-handshake
    reset,             // ... or reset it
    not_tls,           // what came back is not TLS (a plain HTTP port)
    no_shared_cipher,  // handshake_failure / protocol_version alert: no common cipher or version
    alert,             // another alert from the origin
    other,             // anything else OpenSSL reported
    emulated,          // the tls_fail / bad_cert fault
    // 526, strict only
    expired,
    not_yet_valid,
    self_signed,
    name_mismatch,
    unknown_ca,
    bad_certificate,   // any other verification error
};

struct peer_certificate {
    std::string subject;    // one line, RFC 2253 ("CN=origin.test")
    std::string issuer;
    std::string not_after;  // "2027-12-01 10:00:00 GMT"
    std::string names;      // subjectAltName DNS/IP entries, comma-separated
};

struct handshake_result {
    bool ok = false;
    failure why = failure::tls_handshake_failed;  // 525 or 526 when !ok
    tls::cause cause = cause::none;
    std::string detail;        // OpenSSL's words ("certificate has expired", "wrong version number")
    std::optional<peer_certificate> peer;  // the certificate presented, when one was
    bool resumed = false;
    std::chrono::microseconds time{0};
    // What strict verification says of the certificate presented, whatever the mode (full mode
    // without `inspect` has no trust store: then "unable to get local issuer certificate").
    tls::cause verify_cause = cause::none;  // none = it verifies
    std::string verify_error;
    std::string version, cipher;  // "TLSv1.3", "TLS_AES_256_GCM_SHA384" once complete
};

// The strict verdict of `r` as a 526 result (for a mode that decides after the handshake).
handshake_result as_invalid_certificate(handshake_result r);

// A new client stream over `socket` for `server_host` (SNI and the name strict checks: tls_sni, or
// the server's host when it is a name; an IP literal is checked as an IP and sends no SNI). Offers
// `slot`'s session and keeps the tickets the origin sends in it (the slot must outlive the stream:
// the worker's pool owns it).
std::unique_ptr<transport::tls_stream> make_origin_stream(tcp_socket socket, origin_context& ctx,
                                                          std::string_view server_host, session_slot* slot);

// The handshake under `limit` (the timer starts after the TCP handshake). Never throws.
task<handshake_result> handshake_origin(transport::tls_stream& s, origin_context const& ctx,
                                        std::chrono::milliseconds limit);

// A fault's emulated failure: tls_fail -> 525, bad_cert -> 526.
handshake_result emulated(config::fault_type type);

// The client's first byte on a TLS port, judged as nginx does: 0x16 starts a TLS handshake record,
// a set high bit an SSLv2-style hello (both go to the handshake, which answers or fails); anything
// else (a printable byte, another record type) is answered as plain HTTP sent to the HTTPS port.
constexpr bool starts_tls(unsigned char first) noexcept { return first == 0x16 || (first & 0x80) != 0; }
static_assert(starts_tls(0x16) && starts_tls(0x80) && !starts_tls('G') && !starts_tls(0x15));

} // namespace edge522::tls
