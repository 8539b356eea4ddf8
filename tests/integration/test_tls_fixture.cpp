// The TLS/WebSocket fixture (tls_harness) proving itself, without the edge: its certificates, its
// origins and its clients, so that a failing edge test points at the edge and not at the kit.
#include "tls_harness.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <thread>

using namespace edge522::test;
using namespace std::chrono_literals;

namespace {

// True once `condition()` holds, polling for up to `limit` (for counters set on the origin's thread).
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = 2000ms) {
    auto until = clock_type::now() + limit;
    while (!condition()) {
        if (clock_type::now() > until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// A payload whose every byte depends on its position, so a reordered or truncated echo shows.
std::string pattern(std::size_t size, bool binary) {
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        s[i] = binary ? static_cast<char>((i * 131 + i / 251) & 0xff) : static_cast<char>('a' + (i * 7 + i / 26) % 26);
    return s;
}

} // namespace

TEST_CASE("tls fixture: every certificate and key file is made", "[tls_fixture]") {
    auto const& c = certs();
    for (auto const* path : {&c.ca_cert, &c.ca_key, &c.good_cert, &c.good_key, &c.wrong_name_cert,
                             &c.wrong_name_key, &c.expired_cert, &c.expired_key, &c.self_signed_cert,
                             &c.self_signed_key, &c.a_cert, &c.a_key, &c.b_cert, &c.b_key}) {
        INFO(*path);
        CHECK(std::filesystem::file_size(*path) > 100);
    }
}

TEST_CASE("tls fixture: a verifying client reads the echoed head from a CA-signed origin over keep-alive",
          "[tls_fixture]") {
    tls_origin o(certs().good_cert, certs().good_key);
    tls_client c(o.port(), "localhost", certs().ca_cert);
    REQUIRE(c.handshake() == "");
    CHECK(c.tls_version() == "TLSv1.3");
    CHECK(c.alpn() == "http/1.1");
    CHECK(c.peer_subject() == "CN = localhost");
    CHECK(c.peer_san() == std::vector<std::string>{"DNS:localhost", "DNS:origin.test", "IP:127.0.0.1", "IP:::1"});
    for (int i = 0; i < 3; ++i) {
        auto head = "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: origin.test\r\nX-Try: " + std::to_string(i) + "\r\n\r\n";
        auto r = c.request(head);
        REQUIRE(r.status == 200);
        CHECK(r.body == head);
        CHECK(r.header("x-accel-redirect") == "/internal");
        CHECK(r.header("connection") == "keep-alive");
    }
    CHECK(o.last_head().find("GET /2 HTTP/1.1\r\n") == 0);
    CHECK(o.connections() == 1);
    CHECK(o.handshakes() == 1);
    CHECK(o.requests() == 3);
    CHECK(o.sni_seen() == std::vector<std::string>{"localhost"});
    CHECK(o.alpn_seen() == std::vector<std::string>{"http/1.1"});

    SECTION("without SNI the name verified is 127.0.0.1 and the origin records an empty SNI") {
        tls_client bare(o.port(), "", certs().ca_cert);
        REQUIRE(bare.handshake() == "");
        CHECK(bare.request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200);
        CHECK(o.sni_seen() == std::vector<std::string>{"localhost", ""});
    }
    SECTION("HEAD gets the headers without the body") {
        auto r = c.request("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n", true);
        CHECK(r.status == 200);
        CHECK(c.request("GET /after HTTP/1.1\r\nHost: x\r\n\r\n").body.find("GET /after ") == 0);
    }
}

TEST_CASE("tls fixture: request bodies reach the TLS origin whole", "[tls_fixture]") {
    tls_origin o(certs().good_cert, certs().good_key);
    tls_client c(o.port(), "origin.test", certs().ca_cert);
    REQUIRE(c.handshake() == "");
    auto r = c.request("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    REQUIRE(r.status == 200);
    CHECK(o.last_body() == "hello world");
    std::string big(300000, 'q');
    r = c.request("POST /l HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big);
    REQUIRE(r.status == 200);
    CHECK(o.last_body() == big);
    CHECK(o.requests() == 2);
}

TEST_CASE("tls fixture: the certificate served shows in peer_subject and peer_san", "[tls_fixture]") {
    tls_origin a(certs().a_cert, certs().a_key);
    tls_client ca(a.port(), "a.test", certs().ca_cert);
    REQUIRE(ca.handshake() == "");
    CHECK(ca.peer_subject() == "CN = a.test");
    CHECK(ca.peer_san() == std::vector<std::string>{"DNS:a.test"});

    tls_origin b(certs().b_cert, certs().b_key);
    tls_client cb(b.port(), "x.b.test", certs().ca_cert);  // matched by *.b.test
    REQUIRE(cb.handshake() == "");
    CHECK(cb.peer_subject() == "CN = b.test");
    CHECK(cb.peer_san() == std::vector<std::string>{"DNS:b.test", "DNS:*.b.test"});
    CHECK(eventually([&] { return b.handshakes() == 1; }));  // the origin's side ends after the client's
    CHECK(b.sni_seen() == std::vector<std::string>{"x.b.test"});

    tls_client wrong(b.port(), "a.test", certs().ca_cert);
    CHECK(wrong.handshake().find("hostname mismatch") != std::string::npos);
}

TEST_CASE("tls fixture: verifying with the CA rejects wrong-name and expired and self-signed origins",
          "[tls_fixture]") {
    struct bad {
        std::string cert, key, error;
    };
    auto const& c = certs();
    for (auto const& b : {bad{c.wrong_name_cert, c.wrong_name_key, "hostname mismatch"},
                          bad{c.expired_cert, c.expired_key, "certificate has expired"},
                          bad{c.self_signed_cert, c.self_signed_key, "self-signed certificate"}}) {
        INFO(b.cert);
        tls_origin o(b.cert, b.key);
        tls_client verifying(o.port(), "localhost", c.ca_cert);
        auto error = verifying.handshake();
        CHECK(error.find("certificate verify failed") != std::string::npos);
        CHECK(error.find(b.error) != std::string::npos);
        CHECK(eventually([&] { return o.handshakes_failed() == 1; }));
        CHECK(o.sni_failed() == std::vector<std::string>{"localhost"});

        // The same origin without verification: the handshake and a request go through.
        tls_client trusting(o.port(), "localhost");
        REQUIRE(trusting.handshake() == "");
        CHECK(trusting.request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200);
        CHECK(o.handshakes() == 1);
    }
}

TEST_CASE("tls fixture: plain HTTP to a TLS origin fails its handshake and the origin keeps serving",
          "[tls_fixture]") {
    tls_origin o(certs().good_cert, certs().good_key);
    {
        client plain(o.port(), 3000ms);
        auto r = plain.request("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(r.status == 0);  // no HTTP back (a TLS alert at most)
    }
    CHECK(eventually([&] { return o.handshakes_failed() == 1; }));
    CHECK(o.sni_failed() == std::vector<std::string>{""});
    tls_client c(o.port(), "localhost", certs().ca_cert);
    REQUIRE(c.handshake() == "");
    CHECK(c.request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200);
    CHECK(o.connections() == 2);
}

TEST_CASE("tls fixture: a session taken after a response resumes on the next connection", "[tls_fixture]") {
    tls_origin o(certs().good_cert, certs().good_key);
    tls_session saved;
    {
        tls_client first(o.port(), "localhost", certs().ca_cert);
        REQUIRE(first.handshake() == "");
        CHECK_FALSE(first.session_reused());
        REQUIRE(first.request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200);
        saved = first.session();  // TLS 1.3: the tickets came with the response
        REQUIRE(saved);
    }
    tls_client second(o.port(), "localhost", certs().ca_cert, {"http/1.1"}, saved);
    REQUIRE(second.handshake() == "");
    CHECK(second.session_reused());
    CHECK(second.request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200);
    CHECK(o.resumed() == 1);
    CHECK(o.handshakes() == 2);
}

TEST_CASE("tls fixture: the origin picks http/1.1 among the offered protocols or none", "[tls_fixture]") {
    tls_origin o(certs().good_cert, certs().good_key);
    tls_client both(o.port(), "localhost", certs().ca_cert, {"h2", "http/1.1"});
    REQUIRE(both.handshake() == "");
    CHECK(both.alpn() == "http/1.1");
    tls_client none(o.port(), "localhost", certs().ca_cert, {});
    REQUIRE(none.handshake() == "");
    CHECK(none.alpn() == "");
    tls_client h2_only(o.port(), "localhost", certs().ca_cert, {"h2"});
    REQUIRE(h2_only.handshake() == "");
    CHECK(h2_only.alpn() == "");
    CHECK(eventually([&] { return o.handshakes() == 3; }));
    CHECK(o.alpn_seen() == std::vector<std::string>{"http/1.1", "", ""});
}

TEST_CASE("tls fixture: the TLS client times out on a server that never answers and sees a close",
          "[tls_fixture]") {
    SECTION("a handshake to a silent server gives up after the receive timeout") {
        origin silent(origin::behaviour::silent);
        tls_client c(silent.port(), "localhost", "", {"http/1.1"}, nullptr, 300ms);
        auto t0 = clock_type::now();
        CHECK(c.handshake().find("timed out") != std::string::npos);
        CHECK(clock_type::now() - t0 < 3s);
    }
    SECTION("closed_within sees the origin going away and not before") {
        auto o = std::make_unique<tls_origin>(certs().good_cert, certs().good_key);
        tls_client c(o->port(), "localhost", certs().ca_cert);
        REQUIRE(c.handshake() == "");
        CHECK_FALSE(c.closed_within(200ms));
        CHECK(c.request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200);  // still usable
        o.reset();
        CHECK(c.closed_within(2000ms));
    }
}

TEST_CASE("tls fixture: 1 MiB WebSocket messages echo through the plain ws origin and the client closes",
          "[tls_fixture]") {
    ws_origin o;
    ws_client c(o.port(), false, "ws.test", "", "/chat?room=1");
    REQUIRE(c.handshake_error() == "");
    CHECK(c.handshake_status() == 101);
    CHECK(o.last_head().find("GET /chat?room=1 HTTP/1.1\r\n") == 0);
    CHECK(o.last_head().find("Upgrade: websocket") != std::string::npos);
    INFO(c.last_error());
    CHECK(c.send_and_expect_echo(pattern(1024 * 1024, false), false));
    CHECK(c.send_and_expect_echo(pattern(1024 * 1024, true), true));
    CHECK(c.send_and_expect_echo("small", false));
    CHECK(c.close(4001));
    CHECK(eventually([&] { return o.last_close_code() == 4001; }));
    CHECK(o.upgrades() == 1);
    CHECK(o.messages() == 3);
}

TEST_CASE("tls fixture: wss echoes 1 MiB through the TLS websocket origin which can close first",
          "[tls_fixture]") {
    tls_origin o(certs().good_cert, certs().good_key, tls_origin::behaviour::websocket_echo);
    ws_client c(o.port(), true, "origin.test", certs().ca_cert);
    REQUIRE(c.handshake_error() == "");
    INFO(c.last_error());
    CHECK(c.send_and_expect_echo(pattern(1024 * 1024, true), true));
    CHECK(c.send_and_expect_echo(pattern(1024 * 1024, false), false));
    REQUIRE(c.send("close-from-origin", false));
    CHECK(c.wait_for_close(3000ms) == std::optional<int>(1000));
    CHECK(eventually([&] { return o.last_close_code() == 1000; }));  // our reply reached it
    CHECK(o.messages() == 2);
    CHECK(o.sni_seen() == std::vector<std::string>{"origin.test"});

    SECTION("the client can close first") {
        ws_client second(o.port(), true, "origin.test", certs().ca_cert);
        REQUIRE(second.handshake_error() == "");
        CHECK(second.send_and_expect_echo("hi", false));
        CHECK(second.close(1001));
        CHECK(eventually([&] { return o.last_close_code() == 1001; }));
    }
    SECTION("a plain request to the websocket origin is answered like healthy") {
        tls_client plain(o.port(), "origin.test", certs().ca_cert);
        REQUIRE(plain.handshake() == "");
        auto r = plain.request("GET /not-ws HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(r.status == 200);
        CHECK(r.body.find("GET /not-ws ") == 0);
    }
}

TEST_CASE("tls fixture: a refused upgrade or a failed wss verification is reported by the ws client",
          "[tls_fixture]") {
    SECTION("an origin that answers 200 to the upgrade") {
        tls_origin healthy(certs().good_cert, certs().good_key);
        ws_client c(healthy.port(), true, "localhost", certs().ca_cert);
        CHECK(c.handshake_error().find("WebSocket") == 0);
        CHECK(c.handshake_status() == 200);
        CHECK_FALSE(c.send("x", false));
    }
    SECTION("a certificate without the host name") {
        tls_origin o(certs().good_cert, certs().good_key, tls_origin::behaviour::websocket_echo);
        ws_client c(o.port(), true, "wrong.test", certs().ca_cert);
        CHECK(c.handshake_error().find("hostname mismatch") != std::string::npos);
        CHECK(c.handshake_status() == 0);
        CHECK(o.upgrades() == 0);
    }
}
