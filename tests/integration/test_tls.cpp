// TLS at both ends (SPEC sections 3-5): the edge's HTTPS listeners (certificates, SNI selection,
// the generated localhost certificate, plain HTTP on the TLS port, stalled handshakes, reload),
// HTTPS origins (full and strict, 525 and 526 with their causes, SNI, pooling and resumption, the
// tls_fail / bad_cert faults) and WebSockets over every combination of the two.
#include "harness.hpp"
#include "tls_harness.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace edge522::test;
using namespace std::chrono_literals;

namespace {

bool has(std::string const& hay, std::string const& needle) { return hay.find(needle) != std::string::npos; }

std::string quoted(std::string const& path) { return "\"" + path + "\""; }

// [edge] lines for an HTTPS listener with `cert`/`key` (the test CA's good certificate by default).
std::string https_edge(std::string const& extra = "") {
    auto const& c = certs();
    return "listen_tls = [\"127.0.0.1:0\"]\ncert = " + quoted(c.good_cert) + "\nkey = " + quoted(c.good_key) + "\n" +
           extra;
}

// An origin's TLS lines.
std::string tls_origin_toml(std::string const& verify = "full", std::string const& extra = "") {
    return "tls = true\ntls_verify = \"" + verify + "\"\n" + extra;
}

response https_get(std::uint16_t port, std::string const& host = "app.test", std::string const& extra = "") {
    tls_client c(port, "localhost", certs().ca_cert);
    auto const err = c.handshake();
    INFO(err);
    REQUIRE(err.empty());
    return c.request("GET / HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "Connection: close\r\n\r\n");
}

std::string big_message(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
    return s;
}

} // namespace

// --- the edge's HTTPS listeners ---

TEST_CASE("tls: an HTTPS client reaches a plain origin and the origin learns the scheme", "[tls]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", https_edge()));
    REQUIRE(e.tls_port() != 0);
    tls_client c(e.tls_port(), "localhost", certs().ca_cert);
    REQUIRE(c.handshake().empty());
    CHECK(c.alpn() == "http/1.1");
    auto r = c.request("GET /hello HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-Proto: http\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.header("server") == "cloudflare");
    CHECK(has(o.last_head(), "X-Forwarded-Proto: https\r\n"));
    CHECK_FALSE(has(o.last_head(), "X-Forwarded-Proto: http\r\n"));
    CHECK(has(o.last_head(), "CF-Visitor: {\"scheme\":\"https\"}\r\n"));
    // Keep-alive over TLS: a second request on the same connection.
    r = c.request("GET /again HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(c.closed_within(2s));
    // The plain listener still says http.
    auto p = get(e.port());
    CHECK(p.status == 200);
    CHECK(has(o.last_head(), "X-Forwarded-Proto: http\r\n"));
}

TEST_CASE("tls: a client offering only h2 gets the no_application_protocol alert", "[tls]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", https_edge()));
    tls_client only_h2(e.tls_port(), "localhost", certs().ca_cert, {"h2"});
    auto const err = only_h2.handshake();
    CHECK(has(err, "no application protocol"));
    tls_client no_alpn(e.tls_port(), "localhost", certs().ca_cert, {});
    CHECK(no_alpn.handshake().empty());
    CHECK(no_alpn.request("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n").status == 200);
}

TEST_CASE("tls: without cert a local CA and a localhost certificate are made and reused", "[tls]") {
    origin o(origin::behaviour::healthy);
    auto const dir = std::filesystem::temp_directory_path() / ("edge522-certdir-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::vector<std::string> const env{"env", "EDGE522_CERT_DIR=" + dir.string()};
    auto const toml = simple_config({o.address()}, "", "", "listen_tls = [\"127.0.0.1:0\"]\n");
    std::string first_cert;
    {
        edge e(toml, {}, env);
        CHECK(e.log_contains("made the localhost certificate " + (dir / "localhost.pem").string()));
        CHECK(e.log_contains("curl --cacert " + (dir / "local-ca.pem").string()));
        for (auto const* host : {"localhost", ""}) {
            tls_client c(e.tls_port(), host, (dir / "local-ca.pem").string());
            INFO(host);
            REQUIRE(c.handshake().empty());  // verified against the local CA, as localhost and as 127.0.0.1
            CHECK(c.request("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n").status == 200);
        }
        std::ifstream in(dir / "localhost.pem");
        first_cert.assign(std::istreambuf_iterator<char>(in), {});
        CHECK((std::filesystem::status(dir).permissions() & std::filesystem::perms::group_all) ==
              std::filesystem::perms::none);
        CHECK((std::filesystem::status(dir / "localhost-key.pem").permissions() & std::filesystem::perms::others_all) ==
              std::filesystem::perms::none);
    }
    {
        edge e(toml, {}, env);
        CHECK(e.log_contains("reusing the localhost certificate"));
        std::ifstream in(dir / "localhost.pem");
        CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == first_cert);
        tls_client c(e.tls_port(), "localhost", (dir / "local-ca.pem").string());
        CHECK(c.handshake().empty());
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("tls: plain HTTP sent to the HTTPS port gets nginx's 400 in plain HTTP", "[tls]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "", "", https_edge()));
    client c(e.tls_port());
    auto r = c.request("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n");
    CHECK(r.status == 400);
    CHECK(r.status_line == "HTTP/1.1 400 Bad Request");
    CHECK(has(r.body, "<title>400 The plain HTTP request was sent to HTTPS port</title>"));
    CHECK(r.header("connection") == "close");
    CHECK(r.header("server") == "cloudflare");
    CHECK(r.header("cf-ray").size() == 20);
    CHECK(c.closed_within(3s));
    CHECK(o.requests() == 0);
    CHECK(e.log_contains("failure=bad_request phase=tls"));
}

TEST_CASE("tls: a stalled handshake is closed at client_header and holds no worker", "[tls]") {
    origin o(origin::behaviour::healthy);
    edge e(simple_config({o.address()}, "client_header = \"400ms\"", "", https_edge()));
    client silent(e.tls_port());
    client partial(e.tls_port());
    partial.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));  // a ClientHello that never ends
    auto const t0 = clock_type::now();
    // Meanwhile the one worker serves others, over TLS and not.
    CHECK(https_get(e.tls_port()).status == 200);
    CHECK(get(e.port()).status == 200);
    CHECK(silent.closed_within(5s));
    CHECK(partial.closed_within(5s));
    auto const waited = clock_type::now() - t0;
    CHECK(waited >= 350ms);  // not before client_header (counted from the accept, a moment earlier)
    CHECK(waited < 4s);
}

TEST_CASE("tls: the certificate is chosen by SNI from edge.certs", "[tls]") {
    origin o(origin::behaviour::healthy);
    auto const& c = certs();
    edge e(simple_config({o.address()}, "", "",
                         https_edge("[[edge.certs]]\nhosts = [\"a.test\"]\ncert = " + quoted(c.a_cert) +
                                    "\nkey = " + quoted(c.a_key) + "\n[[edge.certs]]\nhosts = [\"*.b.test\", \"b.test\"]\ncert = " +
                                    quoted(c.b_cert) + "\nkey = " + quoted(c.b_key) + "\n")));
    struct sample {
        std::string sni;
        std::string expected;
    };
    for (auto const& s : std::vector<sample>{{"a.test", "DNS:a.test"},
                                             {"A.TEST", "DNS:a.test"},
                                             {"x.b.test", "DNS:*.b.test"},
                                             {"b.test", "DNS:b.test"},
                                             {"other.test", "DNS:origin.test"},
                                             {"", "DNS:origin.test"}}) {
        INFO(s.sni);
        tls_client t(e.tls_port(), s.sni, c.ca_cert);
        auto const err = t.handshake();
        if (s.sni == "other.test") {
            CHECK_FALSE(err.empty());  // the default certificate does not name other.test
            tls_client unverified(e.tls_port(), s.sni);
            REQUIRE(unverified.handshake().empty());
            auto san = unverified.peer_san();
            CHECK(std::find(san.begin(), san.end(), s.expected) != san.end());
            continue;
        }
        REQUIRE(err.empty());
        auto san = t.peer_san();
        CHECK(std::find(san.begin(), san.end(), s.expected) != san.end());
        CHECK(t.request("GET / HTTP/1.1\r\nHost: " + (s.sni.empty() ? std::string("x.test") : s.sni) +
                        "\r\nConnection: close\r\n\r\n")
                  .status == 200);
    }
}

TEST_CASE("tls: a reload reads the certificate files again", "[tls]") {
    origin o(origin::behaviour::healthy);
    auto const& c = certs();
    auto const dir = std::filesystem::temp_directory_path() / ("edge522-reloadcert-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto const cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
    std::filesystem::copy_file(c.a_cert, cert, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(c.a_key, key, std::filesystem::copy_options::overwrite_existing);
    edge e(simple_config({o.address()}, "", "",
                         "listen_tls = [\"127.0.0.1:0\"]\ncert = " + quoted(cert) + "\nkey = " + quoted(key) + "\n"));
    auto san_now = [&] {
        tls_client t(e.tls_port(), "x.test");
        REQUIRE(t.handshake().empty());
        auto san = t.peer_san();
        return san.empty() ? std::string() : san.front();
    };
    CHECK(san_now() == "DNS:a.test");
    std::filesystem::copy_file(c.b_cert, cert, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(c.b_key, key, std::filesystem::copy_options::overwrite_existing);
    e.signal(SIGHUP);
    REQUIRE(e.log_contains("reloaded"));
    CHECK(san_now() == "DNS:b.test");
    // A key that does not match: the reload is rejected, the running certificate stays.
    std::filesystem::copy_file(c.a_key, key, std::filesystem::copy_options::overwrite_existing);
    e.signal(SIGHUP);
    REQUIRE(e.log_contains("does not match certificate"));
    CHECK(san_now() == "DNS:b.test");
    std::filesystem::remove_all(dir);
}

TEST_CASE("tls: a certificate that does not load is a startup error and a check error", "[tls]") {
    auto const& c = certs();
    auto const cfg = write_temp("badcert.toml", simple_config({"127.0.0.1:9"}, "", "",
                                                              "listen_tls = [\"127.0.0.1:0\"]\ncert = " +
                                                                  quoted(c.a_cert) + "\nkey = " + quoted(c.b_key) + "\n"));
    auto r = run_edge({"--config", cfg});
    CHECK(r.exit_code == 2);
    CHECK(has(r.output, "does not match certificate"));
    r = run_edge({"check", cfg});
    CHECK(r.exit_code == 2);
    CHECK(has(r.output, "does not match certificate"));
}

// --- HTTPS origins ---

TEST_CASE("tls: an HTTPS origin in full mode, SNI from the server name or tls_sni", "[tls]") {
    tls_origin o(certs().self_signed_cert, certs().self_signed_key);  // full accepts even self-signed
    edge e(simple_config({"localhost:" + std::to_string(o.port())}, "", tls_origin_toml("full")));
    auto r = get(e.port());
    CHECK(r.status == 200);
    CHECK(has(o.last_head(), "GET / HTTP/1.1\r\n"));
    auto sni = o.sni_seen();
    REQUIRE_FALSE(sni.empty());
    CHECK(sni.front() == "localhost");
    auto alpn = o.alpn_seen();
    CHECK(alpn.front() == "http/1.1");

    edge named(simple_config({o.address()}, "", tls_origin_toml("full", "tls_sni = \"origin.test\"\n")));
    CHECK(get(named.port()).status == 200);
    CHECK(o.sni_seen().back() == "origin.test");

    edge by_ip(simple_config({o.address()}, "", tls_origin_toml("full")));
    CHECK(get(by_ip.port()).status == 200);
    CHECK(o.sni_seen().back().empty());  // no SNI for an IP literal (RFC 6066)
}

TEST_CASE("tls: strict verifies the chain against tls_ca and the name", "[tls]") {
    auto const& c = certs();
    tls_origin good(c.good_cert, c.good_key);
    edge e(simple_config({"localhost:" + std::to_string(good.port())}, "",
                         tls_origin_toml("strict", "tls_ca = " + quoted(c.ca_cert) + "\n")));
    CHECK(get(e.port()).status == 200);
    edge by_ip(simple_config({good.address()}, "", tls_origin_toml("strict", "tls_ca = " + quoted(c.ca_cert) + "\n")));
    CHECK(get(by_ip.port()).status == 200);  // IP:127.0.0.1 in the certificate
    edge by_sni(simple_config({good.address()}, "",
                              tls_origin_toml("strict", "tls_ca = " + quoted(c.ca_cert) + "\ntls_sni = \"origin.test\"\n")));
    CHECK(get(by_sni.port()).status == 200);
}

TEST_CASE("tls: strict rejects self-signed, wrong-name, expired and unknown-CA certificates with 526", "[tls]") {
    auto const& c = certs();
    struct sample {
        std::string cert, key, extra, says;
    };
    auto const ca = "tls_ca = " + quoted(c.ca_cert) + "\n";
    for (auto const& s : std::vector<sample>{
             {c.self_signed_cert, c.self_signed_key, ca, "is self-signed"},
             {c.wrong_name_cert, c.wrong_name_key, ca, "is not for \"localhost\" (it names DNS:wrong.test)"},
             {c.expired_cert, c.expired_key, ca, "has expired (notAfter Jan  2 00:00:00 2020 GMT)"},
             {c.good_cert, c.good_key, "", "is signed by an unknown CA"},  // the system store lacks the test CA
         }) {
        INFO(s.says);
        tls_origin o(s.cert, s.key);
        edge e(simple_config({"localhost:" + std::to_string(o.port())}, "", tls_origin_toml("strict", s.extra)));
        auto r = get(e.port());
        CHECK(r.status == 526);
        CHECK(r.status_line == "HTTP/1.1 526 Invalid SSL Certificate");
        CHECK(r.header("retry-after").empty());
        CHECK(has(r.header("edge522-diagnosis"), s.says));
        CHECK(has(r.header("edge522-diagnosis"), "certificate subject "));
        CHECK(has(r.body, "Invalid SSL certificate"));
        CHECK(o.requests() == 0);
        CHECK(e.log_contains("failure=tls_certificate_invalid phase=tls"));
        // Full mode takes the same certificate.
        edge full(simple_config({"localhost:" + std::to_string(o.port())}, "", tls_origin_toml("full")));
        CHECK(get(full.port()).status == 200);
    }
}

TEST_CASE("tls: tls = true against a plain HTTP origin is 525", "[tls]") {
    // A plain HTTP server that answers a ClientHello with its 400 at once, as nginx does: another edge.
    origin behind(origin::behaviour::healthy);
    edge plain(simple_config({behind.address()}));
    edge e(simple_config({"127.0.0.1:" + std::to_string(plain.port())}, "", tls_origin_toml("full")));
    auto r = get(e.port());
    CHECK(r.status == 525);
    CHECK(r.status_line == "HTTP/1.1 525 SSL Handshake Failed");
    INFO(r.header("edge522-diagnosis"));
    CHECK(has(r.header("edge522-diagnosis"), "did not answer in TLS"));
    CHECK(e.log_contains("failure=tls_handshake_failed phase=tls"));
}

TEST_CASE("tls: a silent origin fails the handshake at tls_handshake, never early, 525", "[tls]") {
    origin silent(origin::behaviour::silent);
    edge e(simple_config({silent.address()}, "tls_handshake = \"500ms\"\nconnect = \"5s\"", tls_origin_toml("full")));
    auto r = get(e.port());
    CHECK(r.status == 525);
    CHECK(r.seconds >= 0.5);
    CHECK(r.seconds < 3.0);
    CHECK(has(r.header("edge522-diagnosis"), "TLS handshake with " + silent.address() + " not complete within 500ms"));
}

TEST_CASE("tls: 525 fails over to the next server", "[tls]") {
    tls_origin good(certs().good_cert, certs().good_key);
    // A plain HTTP origin that waits for a head the ClientHello never completes: the handshake times
    // out at tls_handshake (kept short: the client's read gives up after 10 s).
    origin waits(origin::behaviour::healthy);
    edge e(simple_config({waits.address(), good.address()}, "tls_handshake = \"1s\"", tls_origin_toml("full")));
    auto r = get(e.port());
    CHECK(r.status == 200);
    CHECK(r.seconds >= 1.0);
    CHECK(r.seconds < 6.0);
    CHECK(good.requests() == 1);
    CHECK(waits.requests() == 0);
    // A plain HTTP server that answers the ClientHello with its 400 at once: failed over without waiting.
    origin behind(origin::behaviour::healthy);
    edge plain(simple_config({behind.address()}));
    edge fast(simple_config({"127.0.0.1:" + std::to_string(plain.port()), good.address()}, "", tls_origin_toml("full")));
    auto f = get(fast.port());
    CHECK(f.status == 200);
    CHECK(f.seconds < 5.0);
    CHECK(good.requests() == 2);
}

TEST_CASE("tls: pooled TLS connections are reused and new ones resume the session", "[tls]") {
    tls_origin o(certs().good_cert, certs().good_key);
    edge pooled(simple_config({o.address()}, "", tls_origin_toml("full")));
    for (int i = 0; i < 5; ++i) CHECK(get(pooled.port()).status == 200);
    CHECK(o.connections() == 1);
    CHECK(o.requests() == 5);

    tls_origin fresh(certs().good_cert, certs().good_key);
    edge unpooled(simple_config({fresh.address()}, "", tls_origin_toml("full", "origin_idle_timeout = \"0s\"\n")));
    for (int i = 0; i < 4; ++i) CHECK(get(unpooled.port()).status == 200);
    CHECK(fresh.connections() == 4);
    // The first handshake is full; the later ones offer the ticket the origin sent.
    for (int i = 0; i < 100 && fresh.handshakes() < 4; ++i) std::this_thread::sleep_for(10ms);
    CHECK(fresh.resumed() >= 2);
}

TEST_CASE("tls: tls_fail and bad_cert emulate 525 and 526 against a healthy origin", "[tls][chaos]") {
    tls_origin o(certs().good_cert, certs().good_key);
    edge e(simple_config({o.address()}, "", tls_origin_toml("full")) + "\n[chaos]\nheader = \"x-edge522-fault\"\n");
    auto r = get(e.port(), "/", "app.test", "x-edge522-fault: tls_fail\r\n");
    CHECK(r.status == 525);
    CHECK(has(r.header("edge522-diagnosis"), "(emulated)"));
    r = get(e.port(), "/", "app.test", "x-edge522-fault: bad_cert\r\n");
    CHECK(r.status == 526);
    CHECK(has(r.header("edge522-diagnosis"), "rejected (emulated)"));
    CHECK(o.requests() == 0);
    // The TCP handshakes were real (the origin's thread counts an accept after the edge answered).
    for (int i = 0; i < 200 && o.connections() < 2; ++i) std::this_thread::sleep_for(5ms);
    CHECK(o.connections() == 2);
    CHECK(get(e.port()).status == 200);
    CHECK(e.log_contains("fault=tls_fail"));
    // On a plain-HTTP origin as well.
    origin plain(origin::behaviour::healthy);
    edge p(simple_config({plain.address()}) + "\n[chaos]\nheader = \"x-edge522-fault\"\n");
    CHECK(get(p.port(), "/", "app.test", "x-edge522-fault: bad_cert\r\n").status == 526);
}

// --- WebSockets over every combination ---

TEST_CASE("tls: WebSocket echo over client HTTP or HTTPS and origin HTTP or HTTPS", "[tls][websocket]") {
    auto const& c = certs();
    auto const big = big_message(1 << 20);
    for (bool const client_tls : {false, true}) {
        for (bool const origin_tls : {false, true}) {
            INFO("client " << (client_tls ? "https" : "http") << ", origin " << (origin_tls ? "https" : "http"));
            std::unique_ptr<ws_origin> plain;
            std::unique_ptr<tls_origin> secure;
            std::string address;
            if (origin_tls) {
                secure = std::make_unique<tls_origin>(c.good_cert, c.good_key, tls_origin::behaviour::websocket_echo);
                address = secure->address();
            } else {
                plain = std::make_unique<ws_origin>();
                address = plain->address();
            }
            edge e(simple_config({address}, "", origin_tls ? tls_origin_toml("full") : "", https_edge()));
            auto const port = client_tls ? e.tls_port() : e.port();
            {
                // A close from the client.
                ws_client ws(port, client_tls, "localhost", client_tls ? c.ca_cert : "");
                REQUIRE(ws.handshake_error().empty());
                CHECK(ws.send_and_expect_echo("hello", false));
                CHECK(ws.send_and_expect_echo(big, true));
                CHECK(ws.close(1000));
            }
            {
                // A close from the origin.
                ws_client ws(port, client_tls, "localhost", client_tls ? c.ca_cert : "");
                REQUIRE(ws.handshake_error().empty());
                CHECK(ws.send_and_expect_echo(big, false));
                CHECK(ws.send("close-from-origin", false));
                CHECK(ws.wait_for_close() == std::optional<int>(1000));
            }
            CHECK(e.log_contains("\"GET /\" 101"));
        }
    }
}

TEST_CASE("tls: a failed connect on a WebSocket upgrade still gets its 52x page", "[tls][websocket]") {
    refusing_origin down;
    edge e(simple_config({down.address()}, "", "", https_edge()));
    ws_client ws(e.tls_port(), true, "localhost", certs().ca_cert);
    CHECK(ws.handshake_status() == 521);
    CHECK_FALSE(ws.handshake_error().empty());
}

// --- probe ---

TEST_CASE("tls: probe https reports 525 and 526 with the certificate and the verification error", "[tls][probe]") {
    auto const& c = certs();
    tls_origin good(c.good_cert, c.good_key);
    tls_origin expired(c.expired_cert, c.expired_key);
    origin plain_behind(origin::behaviour::healthy);
    edge plain(simple_config({plain_behind.address()}));
    auto const url = [](std::uint16_t port) { return "https://localhost:" + std::to_string(port) + "/"; };

    auto r = run_edge({"probe", url(good.port()), "--tls-ca", c.ca_cert});
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(has(r.output, "edge answer: 200 (reachable)"));
    CHECK(has(r.output, "verify:      OK"));
    CHECK(has(r.output, "names DNS:localhost"));

    r = run_edge({"probe", url(expired.port()), "--tls-ca", c.ca_cert});
    CHECK(r.exit_code == 1);
    CHECK(has(r.output, "edge answer: 526"));
    CHECK(has(r.output, "certificate has expired"));
    CHECK(has(r.output, "expires Jan  2 00:00:00 2020 GMT"));

    r = run_edge({"probe", url(expired.port()), "--tls-verify", "full", "--json"});
    CHECK(r.exit_code == 0);
    CHECK(has(r.output, "\"code\":200"));
    CHECK(has(r.output, "\"not_after\":\"Jan  2 00:00:00 2020 GMT\""));
    CHECK(has(r.output, "\"verify\":\"unable to get local issuer certificate\""));  // the system store lacks the test CA

    r = run_edge({"probe", "127.0.0.1:" + std::to_string(plain.port()), "--tls"});
    CHECK(r.exit_code == 1);
    CHECK(has(r.output, "edge answer: 525"));
    CHECK(has(r.output, "did not answer in TLS"));
}
