#pragma once
// TLS and WebSocket scenario kit, next to harness.hpp:
//  - test_certs: a throw-away CA and leaf certificates made with the openssl CLI, once per binary;
//  - tls_origin: an HTTPS origin (healthy, or a WebSocket echo) that records SNI, ALPN and resumption;
//  - ws_origin: the same WebSocket echo over plain TCP;
//  - tls_client: a blocking raw HTTPS client (verification, SNI, ALPN, session reuse);
//  - ws_client: a blocking WebSocket client over TCP or TLS.
// Everything stays on 127.0.0.1; every port comes from binding port 0. Every blocking call has a
// time limit so a hung peer fails a test instead of hanging it.
//
// The heavy Asio/Beast/OpenSSL headers stay in tls_harness.cpp (each class keeps its state behind
// a pointer), so test files including this one compile quickly.

#include "harness.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// OpenSSL's session type, declared as openssl/ssl.h does (so this header needs no OpenSSL header).
typedef struct ssl_session_st SSL_SESSION;

namespace edge522::test {

// ---------------------------------------------------------------- certificates

// Certificates and keys (PEM files, EC P-256) in a fresh /tmp/edge522-tls-XXXXXX directory,
// removed when the test binary exits. Every leaf has serverAuth and a subjectAltName.
struct test_certs {
    std::string dir;

    std::string ca_cert, ca_key;              // "edge522 test CA", CA:TRUE, self-signed
    std::string good_cert, good_key;          // CA-signed; DNS:localhost, DNS:origin.test, IP:127.0.0.1, IP:::1
    std::string wrong_name_cert, wrong_name_key;  // CA-signed; DNS:wrong.test only
    std::string expired_cert, expired_key;    // CA-signed, SAN as good; valid 2020-01-01 to 2020-01-02 only
    std::string self_signed_cert, self_signed_key;  // not from the CA; DNS:localhost, IP:127.0.0.1
    std::string a_cert, a_key;                // CA-signed; DNS:a.test (SNI selection at the edge)
    std::string b_cert, b_key;                // CA-signed; DNS:b.test, DNS:*.b.test

    test_certs();   // runs openssl; throws with the failing command and its output
    ~test_certs();  // removes `dir`
    test_certs(test_certs const&) = delete;
    test_certs& operator=(test_certs const&) = delete;

private:
    void generate();  // every file, in `dir`
};

// The one set of certificates of this test binary, made on first use (thread-safe).
test_certs const& certs();

// An OpenSSL session (with its ticket) that a later tls_client can offer for resumption.
using tls_session = std::shared_ptr<SSL_SESSION>;

namespace detail {
class origin_server;
}

// ---------------------------------------------------------------- origins

// An HTTPS origin on 127.0.0.1:<port 0>, served by its own thread. A handshake that fails (plain
// HTTP sent to it, a client rejecting its certificate) is counted and the server goes on.
class tls_origin {
public:
    enum class behaviour {
        healthy,         // HTTP/1.1 keep-alive; 200 with body = the request head received, exactly as
                         // harness's origin::healthy answers (same headers, X-Accel-Redirect included;
                         // no body for HEAD). Request bodies (Content-Length or chunked) are read.
        websocket_echo,  // accepts a WebSocket upgrade and echoes every message (text or binary, up to
                         // 16 MiB) until either side closes; the message "close-from-origin" makes it
                         // close with code 1000 instead. A request that is not an upgrade: as healthy.
    };

    tls_origin(std::string const& cert, std::string const& key, behaviour b = behaviour::healthy);
    ~tls_origin();
    tls_origin(tls_origin const&) = delete;
    tls_origin& operator=(tls_origin const&) = delete;

    // A handshake is recorded when the origin's side of it ends, which under TLS 1.3 is a moment
    // after the client's side: poll, or look after a request was answered.
    std::uint16_t port() const noexcept;
    std::string address() const;                 // "127.0.0.1:PORT"
    unsigned connections() const noexcept;       // TCP connections accepted
    unsigned handshakes() const noexcept;        // TLS handshakes completed
    unsigned handshakes_failed() const noexcept; // TLS handshakes that failed
    unsigned resumed() const noexcept;           // completed handshakes that resumed a session
    unsigned requests() const noexcept;          // HTTP requests read (upgrades included)
    unsigned upgrades() const noexcept;          // WebSocket upgrades accepted
    unsigned messages() const noexcept;          // WebSocket messages echoed
    std::vector<std::string> sni_seen() const;   // SNI of each completed handshake, in order; "" = none
    std::vector<std::string> sni_failed() const; // SNI of each failed handshake ("" = none, or no ClientHello)
    std::vector<std::string> alpn_seen() const;  // protocol chosen in each completed handshake; "" = none
    std::string last_head() const;               // the last request head, as received
    std::string last_body() const;               // the last request body, de-chunked
    int last_close_code() const noexcept;        // close code of the last close frame received; 0 = none

private:
    std::unique_ptr<detail::origin_server> server_;
};

// The WebSocket echo of tls_origin::behaviour::websocket_echo over plain TCP (harness's `upgrade`
// origin echoes raw bytes, this one speaks WebSocket frames).
class ws_origin {
public:
    ws_origin();
    ~ws_origin();
    ws_origin(ws_origin const&) = delete;
    ws_origin& operator=(ws_origin const&) = delete;

    std::uint16_t port() const noexcept;
    std::string address() const;            // "127.0.0.1:PORT"
    unsigned connections() const noexcept;  // TCP connections accepted
    unsigned requests() const noexcept;     // HTTP requests read
    unsigned upgrades() const noexcept;     // WebSocket upgrades accepted
    unsigned messages() const noexcept;     // messages echoed
    std::string last_head() const;
    int last_close_code() const noexcept;   // 0 = no close frame received yet

private:
    std::unique_ptr<detail::origin_server> server_;
};

// ---------------------------------------------------------------- clients

// A blocking HTTPS client on one connection to 127.0.0.1:port. Construction connects (TCP only);
// handshake() does TLS. Every read gives up after `recv_timeout`.
class tls_client {
public:
    // sni: the server name to send ("" = no SNI extension).
    // ca_file: verify the server's chain with this CA and its name against `sni`, or against
    //   127.0.0.1 when sni is ""; "" = no verification at all.
    // alpn: protocols to offer, e.g. {"h2", "http/1.1"}; {} = no ALPN extension.
    // resume: a session from an earlier client's session(), offered for resumption.
    explicit tls_client(std::uint16_t port, std::string sni = "", std::string ca_file = "",
                        std::vector<std::string> alpn = {"http/1.1"}, tls_session resume = nullptr,
                        std::chrono::milliseconds recv_timeout = std::chrono::milliseconds(10000));
    ~tls_client();
    tls_client(tls_client const&) = delete;
    tls_client& operator=(tls_client const&) = delete;

    // "" when the handshake succeeded; else the error, with the verification failure when there is
    // one, e.g. "certificate verify failed (SSL routines): certificate has expired".
    std::string handshake();

    std::string peer_subject() const;        // e.g. "CN = localhost"; "" without a certificate
    std::vector<std::string> peer_san() const;  // e.g. {"DNS:localhost", "IP:127.0.0.1"}
    std::string alpn() const;                // negotiated protocol; "" = none
    std::string tls_version() const;         // e.g. "TLSv1.3"
    bool session_reused() const;             // the handshake resumed `resume`
    // A copy of the current session, to resume later (it stays resumable whatever becomes of this
    // connection). Under TLS 1.3 the tickets come after the handshake: take it after reading a
    // response, not right after handshake().
    tls_session session() const;

    // After a successful handshake, like harness's client: send() throws on failure;
    // read_response() gives status 0 when no whole response came (closed, timed out).
    void send(std::string const& raw);
    response read_response(bool head_request = false);
    response request(std::string const& raw, bool head_request = false);
    // True when the peer closed (close_notify, EOF or reset) within `limit`; bytes before are dropped.
    bool closed_within(std::chrono::milliseconds limit);
    void close();  // sends close_notify (best effort) and closes the socket

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// A blocking WebSocket client to 127.0.0.1:port, over plain TCP or TLS. The constructor connects
// and upgrades (GET `target`, Host: `host`); handshake_error() says whether that worked.
class ws_client {
public:
    // host: the Host header; with tls also the SNI and the name verified when ca_file is given.
    // ca_file: "" = no verification (TLS only).
    ws_client(std::uint16_t port, bool tls, std::string host, std::string ca_file = "",
              std::string target = "/", std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
    ~ws_client();
    ws_client(ws_client const&) = delete;
    ws_client& operator=(ws_client const&) = delete;

    std::string handshake_error() const;  // "" = upgraded
    int handshake_status() const;         // HTTP status of the upgrade answer (101, or e.g. 502); 0 = none

    // Sends `msg` as one message and reads one back: true when it is the same bytes and type.
    bool send_and_expect_echo(std::string const& msg, bool binary);
    bool send(std::string const& msg, bool binary);
    struct message {
        std::string data;
        bool binary = false;
    };
    std::optional<message> receive();  // nullopt: closed, failed or timed out (see last_error())

    // Sends a close frame with `code` and waits for the peer's close: true when that came back.
    bool close(int code = 1000);
    // Reads (dropping any data messages) until the peer closes: its close code, or nullopt when the
    // connection ended without a close frame or nothing came within `limit`.
    std::optional<int> wait_for_close(std::chrono::milliseconds limit = std::chrono::milliseconds(5000));

    std::string last_error() const;  // why the last call failed

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace edge522::test
