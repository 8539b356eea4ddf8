#include "proxy/tls.hpp"

#include "proxy/router.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace edge522::tls {

namespace net = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

// OpenSSL's words for the newest error on the thread's queue (which is then cleared).
std::string openssl_text(boost::system::error_code const& ec) {
    unsigned long const e = ERR_peek_last_error();
    std::string out;
    if (e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        out = buf;
    } else {
        out = ec ? ec.message() : std::string("unknown error");
    }
    ERR_clear_error();
    return out;
}

// ALPN: the edge speaks HTTP/1.1. A client that offers only other protocols gets the fatal
// no_application_protocol alert RFC 7301 3.2 asks for (nginx does the same).
int select_alpn(SSL*, unsigned char const** out, unsigned char* outlen, unsigned char const* in, unsigned int inlen,
                void*) {
    static constexpr unsigned char ours[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

std::unique_ptr<ssl::context> server_context(std::string const& cert, std::string const& key, std::string& error) {
    std::unique_ptr<ssl::context> ctx;
    try {
        ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    } catch (std::exception const& e) {
        error = std::string("cannot create a TLS context: ") + e.what();
        return nullptr;
    }
    boost::system::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
    ctx->use_certificate_chain_file(cert, ec);
    if (ec) {
        error = "cannot load certificate \"" + cert + "\": " + openssl_text(ec);
        return nullptr;
    }
    ctx->use_private_key_file(key, ssl::context::pem, ec);
    if (ec && ec.category() == net::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        error = "private key \"" + key + "\" does not match certificate \"" + cert + "\"";
        return nullptr;
    }
    if (ec) {
        error = "cannot load private key \"" + key + "\": " + openssl_text(ec);
        return nullptr;
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
        error = "private key \"" + key + "\" does not match certificate \"" + cert + "\"";
        ERR_clear_error();
        return nullptr;
    }
    SSL_CTX_set_alpn_select_cb(ctx->native_handle(), select_alpn, nullptr);
    // TLS 1.2 renegotiation would make a read write (and the reverse) under Asio's feet; nginx
    // refuses client-initiated renegotiation too.
    SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
    // Idle keep-alive connections should not hold OpenSSL's read and write buffers.
    SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

int slot_index() {
    static int const index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// Every session (ticket) an origin sends replaces the one its pool key offered. A copy: OpenSSL
// marks the connection's own session not resumable when the connection ends without a
// close_notify (ssl_clear_bad_session), as origin connections do when they are not pooled.
int on_new_session(SSL* s, SSL_SESSION* session) {
    if (auto* slot = static_cast<session_slot*>(SSL_get_ex_data(s, slot_index())))
        if (SSL_SESSION* copy = SSL_SESSION_dup(session)) slot->reset(copy);
    return 0;  // the original stays OpenSSL's
}

// --- the generated localhost certificate ---

struct key_deleter {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct x509_deleter {
    void operator()(X509* x) const noexcept { X509_free(x); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

bool add_extension(X509* x, X509* issuer, int nid, char const* value) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, nullptr, nullptr, 0);
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (!e) return false;
    bool const ok = X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

// A certificate for `subject_key`, signed by `issuer` (itself when null) with `issuer_key`.
x509_ptr make_certificate(char const* common_name, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key,
                          long days, bool ca) {
    x509_ptr x(X509_new());
    if (!x) return nullptr;
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) return nullptr;
    serial[0] &= 0x7f;  // a positive serial
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
    BN_free(bn);
    ok = ok && X509_set_version(x.get(), 2) && X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(x.get()), days * 86400L) && X509_set_pubkey(x.get(), subject_key);
    X509_NAME* name = X509_get_subject_name(x.get());
    ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<unsigned char const*>("edge522"), -1, -1, 0) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<unsigned char const*>(common_name), -1, -1, 0);
    X509* signer = issuer ? issuer : x.get();
    ok = ok && X509_set_issuer_name(x.get(), X509_get_subject_name(signer));
    if (ca) {
        ok = ok && add_extension(x.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             add_extension(x.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_extension(x.get(), signer, NID_subject_key_identifier, "hash");
    } else {
        ok = ok && add_extension(x.get(), signer, NID_basic_constraints, "critical,CA:FALSE") &&
             add_extension(x.get(), signer, NID_key_usage, "critical,digitalSignature") &&
             add_extension(x.get(), signer, NID_ext_key_usage, "serverAuth") &&
             add_extension(x.get(), signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1") &&
             add_extension(x.get(), signer, NID_authority_key_identifier, "keyid");
    }
    ok = ok && X509_sign(x.get(), issuer_key, EVP_sha256()) > 0;
    if (!ok) return nullptr;
    return x;
}

// Writes `write(FILE*)` to `path` through a temporary file and a rename, mode `mode`.
template <class Write>
bool write_file(std::string const& path, mode_t mode, Write write) {
    std::string const tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return false;
    std::FILE* f = ::fdopen(fd, "w");
    if (!f) {
        ::close(fd);
        return false;
    }
    bool ok = write(f);
    ok = std::fclose(f) == 0 && ok;
    return ok && std::rename(tmp.c_str(), path.c_str()) == 0;
}

x509_ptr read_certificate(std::string const& path) {
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return nullptr;
    x509_ptr x(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    return x;
}

key_ptr read_key(std::string const& path) {
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return nullptr;
    key_ptr k(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    return k;
}

// The pair in `dir` is reusable: both parse, the key matches, the leaf is the CA's and valid for
// another week.
bool reusable(local_certificate const& c) {
    auto ca = read_certificate(c.ca_cert);
    auto leaf = read_certificate(c.cert);
    auto key = read_key(c.key);
    bool ok = ca && leaf && key && X509_check_private_key(leaf.get(), key.get()) == 1 &&
              X509_check_issued(ca.get(), leaf.get()) == X509_V_OK;
    if (ok) {
        time_t week = std::time(nullptr) + 7 * 86400;
        ok = X509_cmp_time(X509_get0_notAfter(leaf.get()), &week) > 0;
    }
    ERR_clear_error();
    return ok;
}

std::string certificate_dir() {
    if (char const* d = std::getenv("EDGE522_CERT_DIR"); d && *d) return d;
    if (char const* d = std::getenv("XDG_DATA_HOME"); d && *d) return std::string(d) + "/edge522";
    if (char const* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/edge522";
    return "/tmp/edge522-" + std::to_string(::getuid());
}

// mkdir -p with mode 0700 for the last component; the directory must be ours and not writable by
// others (the key is read from it).
bool make_private_dir(std::string const& dir, std::string& error) {
    for (std::size_t i = 1; i <= dir.size(); ++i) {
        if (i != dir.size() && dir[i] != '/') continue;
        auto const part = dir.substr(0, i);
        if (::mkdir(part.c_str(), i == dir.size() ? 0700 : 0755) != 0 && errno != EEXIST) {
            error = "cannot create " + part + ": " + std::strerror(errno);
            return false;
        }
    }
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 0022)) {
        error = dir + " is not a directory of this user's that only they can write to";
        return false;
    }
    return true;
}

// Classifies a verification error of the presented certificate (strict mode).
cause verify_cause(long v) noexcept {
    switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED: return cause::expired;
    case X509_V_ERR_CERT_NOT_YET_VALID: return cause::not_yet_valid;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return cause::self_signed;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: return cause::name_mismatch;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: return cause::unknown_ca;
    default: return cause::bad_certificate;
    }
}

std::string name_text(X509_NAME const* n) {
    if (!n) return {};
    BIO* b = BIO_new(BIO_s_mem());
    if (!b) return {};
    X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    long const len = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(std::max(0L, std::min(len, 1024L))));
    BIO_free(b);
    return out;
}

std::string time_text(ASN1_TIME const* t) {
    if (!t) return {};
    BIO* b = BIO_new(BIO_s_mem());
    if (!b) return {};
    ASN1_TIME_print(b, t);
    char* data = nullptr;
    long const len = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<std::size_t>(std::max(0L, std::min(len, 64L))));
    BIO_free(b);
    return out;
}

std::string alt_names(X509* x) {
    std::string out;
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
    if (!names) return out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names) && out.size() < 1024; ++i) {
        GENERAL_NAME const* g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            auto const* s = g->d.dNSName;
            out.append(out.empty() ? "" : ", ").append("DNS:").append(
                reinterpret_cast<char const*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s)));
        } else if (g->type == GEN_IPADD) {
            auto const* s = g->d.iPAddress;
            boost::system::error_code ec;
            std::string ip;
            if (ASN1_STRING_length(s) == 4) {
                net::ip::address_v4::bytes_type bytes;
                std::memcpy(bytes.data(), ASN1_STRING_get0_data(s), 4);
                ip = net::ip::address_v4(bytes).to_string();
            } else if (ASN1_STRING_length(s) == 16) {
                net::ip::address_v6::bytes_type bytes;
                std::memcpy(bytes.data(), ASN1_STRING_get0_data(s), 16);
                ip = net::ip::address_v6(bytes).to_string();
            }
            if (!ip.empty()) out.append(out.empty() ? "" : ", ").append("IP:").append(ip);
        }
    }
    GENERAL_NAMES_free(names);
    return out;
}

std::optional<peer_certificate> presented(SSL* s) {
    // On a failed verification the leaf is not the session's peer yet, but the chain it came in is.
    X509* leaf = SSL_get0_peer_certificate(s);
    if (!leaf) {
        STACK_OF(X509)* chain = SSL_get_peer_cert_chain(s);
        if (chain && sk_X509_num(chain) > 0) leaf = sk_X509_value(chain, 0);
    }
    if (!leaf) return std::nullopt;
    return peer_certificate{name_text(X509_get_subject_name(leaf)), name_text(X509_get_issuer_name(leaf)),
                            time_text(X509_get0_notAfter(leaf)), alt_names(leaf)};
}

// 525's causes, from how the handshake ended.
cause handshake_cause(boost::system::error_code const& ec, std::string& detail) {
    if (ec == net::ssl::error::stream_truncated || ec == net::error::eof) {
        detail = "connection closed";
        return cause::closed;
    }
    if (ec == net::error::connection_reset) {
        detail = "connection reset";
        return cause::reset;
    }
    if (ec.category() == net::error::get_ssl_category()) {
        auto const reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
        char const* text = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
        detail = text ? text : ec.message();
        switch (reason) {
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_HTTP_REQUEST:
        case SSL_R_RECORD_LENGTH_MISMATCH:
        case SSL_R_UNEXPECTED_RECORD: return cause::not_tls;
        case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        case SSL_R_NO_SHARED_CIPHER:
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_NO_PROTOCOLS_AVAILABLE:
        case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY: return cause::no_shared_cipher;
        default:
            return std::string_view(detail).find("alert") != std::string_view::npos ? cause::alert : cause::other;
        }
    }
    detail = ec.message();
    return cause::other;
}

} // namespace

// --- server side ---

std::shared_ptr<server_contexts> server_contexts::build(std::string const& cert, std::string const& key,
                                                        std::vector<config::edge_certificate> const& more,
                                                        std::string& error) {
    auto out = std::make_shared<server_contexts>();
    out->default_ = server_context(cert, key, error);
    if (!out->default_) return nullptr;
    for (auto const& c : more) {
        auto ctx = server_context(c.cert, c.key, error);
        if (!ctx) return nullptr;
        out->by_host_.push_back({c.hosts, std::move(ctx)});
    }
    if (!out->by_host_.empty()) {
        SSL_CTX_set_tlsext_servername_callback(out->default_->native_handle(), on_servername);
        SSL_CTX_set_tlsext_servername_arg(out->default_->native_handle(), out.get());
    }
    return out;
}

ssl::context* server_contexts::for_name(std::string_view host) noexcept {
    for (auto& e : by_host_)
        for (auto const& p : e.hosts)
            if (host_matches(p, host)) return e.ctx.get();
    return nullptr;
}

int server_contexts::on_servername(SSL* s, int*, void* arg) {
    char const* name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
    char lower[256];
    std::size_t n = 0;
    for (; name[n] && n < sizeof lower; ++n)
        lower[n] = static_cast<char>(name[n] >= 'A' && name[n] <= 'Z' ? name[n] + 32 : name[n]);
    if (n == sizeof lower) return SSL_TLSEXT_ERR_OK;  // longer than any host name
    if (auto* ctx = static_cast<server_contexts*>(arg)->for_name({lower, n}))
        SSL_set_SSL_CTX(s, ctx->native_handle());
    return SSL_TLSEXT_ERR_OK;
}

std::optional<local_certificate> make_local_certificate(std::string& error) {
    auto const dir = certificate_dir();
    if (!make_private_dir(dir, error)) return std::nullopt;
    local_certificate c{dir + "/local-ca.pem", dir + "/localhost.pem", dir + "/localhost-key.pem", false};

    // Two edges starting at once must not interleave their files.
    int lock = ::open((dir + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
        error = "cannot lock " + dir + "/.lock: " + std::strerror(errno);
        if (lock >= 0) ::close(lock);
        return std::nullopt;
    }
    struct unlock {
        int fd;
        ~unlock() { ::close(fd); }
    } unlock_at_exit{lock};

    if (reusable(c)) {
        c.reused = true;
        return c;
    }
    key_ptr ca_key(EVP_EC_gen("P-256"));
    key_ptr leaf_key(EVP_EC_gen("P-256"));
    x509_ptr ca = ca_key ? make_certificate("edge522 local CA", ca_key.get(), nullptr, ca_key.get(), 3650, true) : nullptr;
    x509_ptr leaf = ca && leaf_key ? make_certificate("localhost", leaf_key.get(), ca.get(), ca_key.get(), 365, false) : nullptr;
    if (!leaf) {
        error = "cannot make a localhost certificate: " + openssl_text({});
        return std::nullopt;
    }
    bool const ok =
        write_file(c.key, 0600, [&](std::FILE* f) { return PEM_write_PrivateKey(f, leaf_key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1; }) &&
        write_file(c.cert, 0644, [&](std::FILE* f) { return PEM_write_X509(f, leaf.get()) == 1; }) &&
        write_file(c.ca_cert, 0644, [&](std::FILE* f) { return PEM_write_X509(f, ca.get()) == 1; });
    if (!ok) {
        error = "cannot write the localhost certificate to " + dir + ": " + std::strerror(errno);
        return std::nullopt;
    }
    return c;
}

std::vector<std::string> check_files(config::config const& cfg) {
    std::vector<std::string> errors;
    std::string error;
    if (!cfg.edge.cert.empty() && !server_contexts::build(cfg.edge.cert, cfg.edge.key, cfg.edge.certs, error))
        errors.push_back(error);
    for (auto const& o : cfg.origins)
        if (o.tls && !origin_context::build(o, error)) errors.push_back(error);
    return errors;
}

// --- origin side ---

std::shared_ptr<origin_context> origin_context::build(config::origin const& o, std::string& error, bool inspect) {
    auto out = std::make_shared<origin_context>();
    try {
        out->ctx_ = std::make_unique<ssl::context>(ssl::context::tls_client);
    } catch (std::exception const& e) {
        error = std::string("cannot create a TLS context: ") + e.what();
        return nullptr;
    }
    out->verify_ = o.verify;
    out->inspect_ = inspect;
    out->sni_ = o.tls_sni;
    auto* native = out->ctx_->native_handle();
    boost::system::error_code ec;
    out->ctx_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3, ec);
    if (o.verify == config::tls_verify::strict || inspect) {
        out->ctx_->set_verify_mode(o.verify == config::tls_verify::strict ? ssl::verify_peer : ssl::verify_none, ec);
        if (!o.tls_ca.empty()) out->ctx_->load_verify_file(o.tls_ca, ec);
        else out->ctx_->set_default_verify_paths(ec);
        if (ec) {
            error = "origin \"" + o.name + "\": cannot load " +
                    (o.tls_ca.empty() ? std::string("the system's trust store") : "tls_ca \"" + o.tls_ca + "\"") + ": " +
                    openssl_text(ec);
            return nullptr;
        }
    } else {
        out->ctx_->set_verify_mode(ssl::verify_none, ec);  // Full: any certificate, even self-signed
    }
    static constexpr unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(native, alpn, sizeof alpn);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(native, on_new_session);
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);  // pooled idle connections hold no buffers
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
    return out;
}

std::unique_ptr<transport::tls_stream> make_origin_stream(tcp_socket socket, origin_context& ctx,
                                                          std::string_view server_host, session_slot* slot) {
    auto s = std::make_unique<transport::tls_stream>(std::move(socket), ctx.context());
    SSL* native = s->native_handle();
    std::string const name = !ctx.sni().empty() ? ctx.sni() : std::string(server_host);
    boost::system::error_code ec;
    net::ip::make_address(name, ec);
    bool const strict = ctx.checks_name();
    if (ec) {
        SSL_set_tlsext_host_name(native, name.c_str());  // RFC 6066: no SNI for an IP literal
        if (strict) SSL_set1_host(native, name.c_str());
    } else if (strict) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(native), name.c_str());
    }
    if (slot) {
        SSL_set_ex_data(native, slot_index(), slot);
        if (*slot) SSL_set_session(native, slot->get());
    }
    return s;
}

task<handshake_result> handshake_origin(transport::tls_stream& s, origin_context const& ctx,
                                        std::chrono::milliseconds limit) {
    using namespace net::experimental::awaitable_operators;
    auto const t0 = clock::now();
    net::steady_timer timer(s.get_executor(), t0 + limit);
    auto r = co_await (s.async_handshake(ssl::stream_base::client, use_nothrow) || timer.async_wait(use_nothrow));
    handshake_result out;
    out.time = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t0);
    SSL* native = s.native_handle();
    out.peer = presented(native);
    if (r.index() == 1) {
        out.cause = cause::timeout;
        ERR_clear_error();
        co_return out;
    }
    auto const [ec] = std::get<0>(r);
    long const v = SSL_get_verify_result(native);
    if (v != X509_V_OK && out.peer) {
        out.verify_cause = verify_cause(v);
        out.verify_error = X509_verify_cert_error_string(v);
    }
    if (!ec) {
        out.ok = true;
        out.resumed = SSL_session_reused(native) == 1;
        out.version = SSL_get_version(native);
        if (SSL_CIPHER const* c = SSL_get_current_cipher(native)) out.cipher = SSL_CIPHER_get_name(c);
        co_return out;
    }
    if (ctx.verify() == config::tls_verify::strict && v != X509_V_OK) {
        out.why = failure::tls_certificate_invalid;
        out.cause = verify_cause(v);
        out.detail = X509_verify_cert_error_string(v);
    } else {
        out.cause = handshake_cause(ec, out.detail);
    }
    ERR_clear_error();
    co_return out;
}

handshake_result as_invalid_certificate(handshake_result r) {
    r.ok = false;
    r.why = failure::tls_certificate_invalid;
    r.cause = r.verify_cause;
    r.detail = r.verify_error;
    return r;
}

handshake_result emulated(config::fault_type type) {
    handshake_result r;
    r.cause = cause::emulated;
    if (type == config::fault_type::bad_cert) {
        r.why = failure::tls_certificate_invalid;
        r.detail = "certificate verify failed";
    } else {
        r.detail = "handshake failure";
    }
    return r;
}

} // namespace edge522::tls
