#include "proxy/diagnosis.hpp"

#include <boost/beast/http/error.hpp>

namespace edge522 {

namespace http = boost::beast::http;

namespace {


constexpr std::string_view retry_later = "Please try again in a few minutes.";
constexpr std::string_view owner_must_fix =
    "There is nothing you can do about it: the owner of the website has to fix it. Please try again later.";
constexpr std::string_view not_origin =
    "The request never reached your origin server; nothing needs fixing there unless many visitors see this.";

constexpr std::array<std::string_view, 3> owner_520{
    "Check the origin's error logs at the time shown above: an application that crashes or a worker "
    "killed mid-request closes the connection exactly like this.",
    "Make sure the origin answers with valid HTTP and keeps its response headers small (many or large "
    "cookies are the usual cause of oversized headers).",
    "Make sure nothing between the edge and the origin (firewall, IDS, load balancer) resets established "
    "connections."};
constexpr std::array<std::string_view, 3> owner_522{
    "Allow the edge's IP addresses in the origin's firewall, `iptables`, `.htaccess` and security plugins: "
    "an edge sends a lot of traffic from few addresses, which trips automatic blocking and rate limits.",
    "Check that the origin is not overloaded or offline, and that the origin address configured at the "
    "edge is the server's real address.",
    "Keep HTTP keep-alive enabled on the origin, so that the edge can reuse its connections."};
constexpr std::array<std::string_view, 3> owner_524{
    "The origin took too long to answer: look for slow database queries or exhausted worker pools.",
    "Move long-running work (reports, exports, bulk updates) to background jobs and poll for the result, "
    "or stream the response so that the first bytes arrive early.",
    "If long requests are expected, raise the edge's `read` (and `write`) timeout for this origin."};

} // namespace

failure_text text_for(failure f) noexcept {
    switch (f) {
    case failure::invalid_response:
        return {"The origin web server sent the edge something that is not a valid HTTP response. As a "
                "result, the web page can not be displayed.",
                retry_later, owner_520};
    case failure::empty_response:
        return {"The origin web server closed the connection without sending a response. As a result, the "
                "web page can not be displayed.",
                retry_later, owner_520};
    case failure::connection_reset:
        return {"The origin web server reset the connection before completing its response. As a result, "
                "the web page can not be displayed.",
                retry_later, owner_520};
    case failure::response_header_too_large:
        return {"The origin web server sent response headers larger than the edge accepts. As a result, the "
                "web page can not be displayed.",
                retry_later, owner_520};
    case failure::connect_refused:
        return {"The web server is not returning a connection: the origin refused the edge's connection. As "
                "a result, the web page can not be displayed.",
                retry_later,
                {"Make sure the web server is running and listening on the address and port the edge "
                 "connects to (a stopped or crashed application refuses connections like this).",
                 "Check that no firewall rule rejects the edge's IP addresses: a `REJECT` rule answers with "
                 "a reset, just like a server that is not listening.",
                 ""}};
    case failure::connect_timeout:
        return {"The initial connection between the edge and the origin web server timed out. As a result, "
                "the web page can not be displayed.",
                retry_later, owner_522};
    case failure::request_not_acked:
        return {"The edge connected to the origin web server, but the origin did not acknowledge the request "
                "in time. As a result, the web page can not be displayed.",
                retry_later, owner_522};
    case failure::unreachable:
        return {"The edge could not find a route to the origin web server. As a result, the web page can "
                "not be displayed.",
                retry_later,
                {"Check that the origin IP address configured at the edge is correct and still assigned to "
                 "your server.",
                 "Ask your hosting provider about routing between the edge and the origin; give them an MTR "
                 "or traceroute and the time of the error.",
                 ""}};
    case failure::read_timeout:
        return {"The edge connected to the origin web server, but the origin did not send an HTTP response "
                "before the connection timed out.",
                retry_later, owner_524};
    case failure::write_timeout:
        return {"The edge connected to the origin web server, but the origin did not take the request body "
                "before the connection timed out.",
                retry_later, owner_524};
    case failure::tls_handshake_failed:
        return {"The SSL/TLS handshake between the edge and the origin web server failed. As a result, the "
                "web page can not be displayed.",
                owner_must_fix,
                {"Make sure the origin has a certificate installed and speaks TLS on the port the edge "
                 "connects to.",
                 "Check that the origin supports TLS 1.2 or later with a modern cipher suite, and accepts the "
                 "SNI name the edge sends.",
                 ""}};
    case failure::tls_certificate_invalid:
        return {"The edge could not validate the SSL/TLS certificate presented by the origin web server. As a "
                "result, the web page can not be displayed.",
                owner_must_fix,
                {"Install a certificate on the origin that is unexpired, issued by a trusted authority and "
                 "valid for `{host}`.",
                 "Send the full certificate chain, intermediates included.",
                 "Relax the edge's `tls_verify` only if you understand what strict verification protects."}};
    case failure::dns_failed:
        return {"The edge could not resolve the host name of the origin web server configured for `{host}`. "
                "As a result, the web page can not be displayed.",
                owner_must_fix,
                {"Check the DNS record of the origin name: it must exist and resolve to your server (an A, "
                 "AAAA or CNAME record).",
                 "If the origin name is a CNAME to another provider, make sure its target still resolves.",
                 ""}};
    case failure::no_origin_for_host:
        return {"No origin is configured at this edge for `{host}`, so the request has nowhere to go.",
                "Check that the address is spelled correctly. If it is, the website may not be set up yet.",
                {"Add an `[[origins]]` entry whose `hosts` pattern matches `{host}` to the edge's "
                 "configuration, or point the DNS record of `{host}` elsewhere.",
                 "", ""}};
    case failure::access_denied:
        return {"The owner of this website (`{host}`) has banned your IP address (`{ip}`).",
                "If you think this is a mistake, contact the owner of the website and give them the Ray ID "
                "shown below.",
                {"Review the edge's `[access]` rules: an address or range that includes `{ip}` is blocked.", "",
                 ""}};
    case failure::not_found:
        return {"The edge has nothing at this address.",
                "Check the address for typing errors.",
                {"`/cdn-cgi/error/CODE` only serves the codes the edge itself generates: 520 to 526, 530 and "
                 "403.",
                 "", ""}};
    case failure::bad_request:
        return {"The edge could not understand the request: it was malformed.",
                "Check the address and try again. If you are sending requests from a program, make sure they "
                "are valid HTTP/1.1.",
                {not_origin, "", ""}};
    case failure::request_timeout:
        return {"The edge did not receive the complete request in time, so it closed the connection.",
                "Check your network connection and try again.",
                {not_origin, "", ""}};
    case failure::header_too_large:
        return {"The request headers were larger than the edge accepts.",
                "Clear the cookies for this website and try again: many or large cookies are the usual cause.",
                {not_origin, "If your website sets many or large cookies, make them fewer or smaller.", ""}};
    case failure::uri_too_long:
        return {"The address (URL) of the request was longer than the edge accepts.",
                "Check the address: a link that keeps growing (for example a redirect loop that appends to "
                "the query string) is the usual cause.",
                {not_origin, "If your website builds long URLs, send the data in a request body instead.", ""}};
    case failure::not_implemented:
        return {"The request used a transfer coding the edge does not support.",
                "Send the request body with `Content-Length`, or with `Transfer-Encoding: chunked`.",
                {not_origin, "", ""}};
    }
    return {"", "", {"", "", ""}};
}

std::string plain_fix(failure f, std::string_view host) {
    std::string out;
    for (auto bullet : text_for(f).owner) {
        if (bullet.empty()) continue;
        if (!out.empty()) out += ' ';
        for (std::size_t i = 0; i < bullet.size(); ++i) {
            if (bullet[i] == '`') continue;
            if (bullet.substr(i).starts_with("{host}")) {
                out += host;
                i += 5;
                continue;
            }
            out += bullet[i];
        }
    }
    return out;
}

std::string describe_connect(connect_result const& cr, config::origin_timeouts const& t) {
    // Appended to one string (a chain of + made a temporary per piece: ~1,800 instructions a 522).
    std::string d;
    d.reserve(160 + cr.address.size() + 2 * cr.source.size());
    auto const from = [&] {
        if (!cr.source.empty()) d.append(" from ").append(cr.source);
    };
    auto const after_ms = [&] {
        d.append(" after ").append(std::to_string(cr.connect_time.count() / 1000)).append(" ms");
    };
    switch (cr.why) {
    case failure::dns_failed:
        d.append("resolving ").append(cr.address).append(" failed after ");
        d.append(std::to_string(cr.dns_time.count())).append(" ms");
        break;
    case failure::connect_timeout:
        d.append("TCP handshake");
        from();
        d.append(" with ").append(cr.address).append(" not completed within ");
        d.append(config::format_duration(t.connect)).append(" (no SYN-ACK; waited ");
        d.append(std::to_string(cr.connect_time.count() / 1000)).append(" ms)");
        if (cr.firewalled)
            d.append("; the emulated origin firewall drops ").append(cr.source).append(" (not in firewall_allow)");
        break;
    case failure::connect_refused:
        d.append("connect");
        from();
        d.append(" to ").append(cr.address).append(" refused");
        after_ms();
        if (cr.firewalled)
            d.append(" by the emulated origin firewall (").append(cr.source)
                .append(" not in firewall_allow, firewall_action = \"reject\")");
        else
            d.append(" (RST: nothing listening, or a firewall REJECT)");
        break;
    case failure::unreachable:
        d.append("no route");
        from();
        d.append(" to ").append(cr.address);
        after_ms();
        break;
    default:
        d.append("connect");
        from();
        d.append(" to ").append(cr.address).append(" failed");
        after_ms();
        break;
    }
    d.append(" (").append(errno_name(cr.ec)).append(")");
    return d;
}

std::string describe_request_write(failure f, std::string_view server, boost::system::error_code const& ec,
                                   config::origin_timeouts const& t, bool body) {
    std::string const s(server);
    switch (f) {
    case failure::write_timeout:
        return "origin " + s + " did not take the request " + (body ? "body" : "head") + " within " +
               config::format_duration(t.write);
    case failure::request_not_acked:
        return "origin " + s + " did not ACK the request within " + config::format_duration(t.request_ack);
    default:
        return std::string("writing the request ") + (body ? "body" : "head") + " to " + s + " failed (" +
               errno_name(ec) + ")";
    }
}

std::string describe_response(failure f, std::string_view server, boost::system::error_code const& ec,
                              config::origin_timeouts const& t, std::uint64_t max_response_header,
                              long waited_ms) {
    std::string const s(server);
    std::string d;
    switch (f) {
    case failure::read_timeout:
        d = "no response head from " + s + " within " + config::format_duration(t.read);
        break;
    case failure::request_not_acked:
        d = "origin " + s + " did not ACK the request within " + config::format_duration(t.request_ack);
        break;
    case failure::empty_response:
        d = "origin " + s + " closed the connection without a response";
        break;
    case failure::connection_reset:
        d = "origin " + s + " reset the connection (" + errno_name(ec) + ")";
        break;
    case failure::response_header_too_large:
        d = ec == http::error::bad_obs_fold ? "a folded (obs-fold) response header value from " + s + " over 4 KiB"
            : ec ? "a response header line from " + s + " over 65000 bytes"
                 : "response head from " + s + " over " + std::to_string(max_response_header) + " bytes";
        break;
    default:
        d = "origin " + s + " sent something that is not an HTTP response" + (ec ? " (" + ec.message() + ")" : "");
        break;
    }
    d += "; waited " + std::to_string(waited_ms) + " ms";
    return d;
}

std::string describe_tls(tls::handshake_result const& r, std::string_view server, std::string_view name,
                         std::chrono::milliseconds limit) {
    std::string const s(server);
    std::string const n(name);
    std::string d;
    using tls::cause;
    switch (r.cause) {
    case cause::timeout: d = "TLS handshake with " + s + " not complete within " + config::format_duration(limit); break;
    case cause::closed: d = "origin " + s + " closed the connection during the TLS handshake"; break;
    case cause::reset: d = "origin " + s + " reset the connection during the TLS handshake"; break;
    case cause::not_tls:
        d = "origin " + s + " did not answer in TLS (" + r.detail + "): a plain HTTP port behind tls = true?";
        break;
    case cause::no_shared_cipher:
        d = "TLS handshake with " + s + " failed: no shared cipher or protocol version (" + r.detail + ")";
        break;
    case cause::emulated:
        d = r.why == failure::tls_certificate_invalid ? "certificate of " + s + " rejected (emulated)"
                                                      : "TLS handshake with " + s + " failed (emulated)";
        break;
    case cause::expired:
        d = "certificate of " + s + " has expired" + (r.peer ? " (notAfter " + r.peer->not_after + ")" : std::string());
        break;
    case cause::not_yet_valid: d = "certificate of " + s + " is not valid yet"; break;
    case cause::self_signed: d = "certificate of " + s + " is self-signed (" + r.detail + ")"; break;
    case cause::name_mismatch:
        d = "certificate of " + s + " is not for \"" + n + "\"" +
            (r.peer && !r.peer->names.empty() ? " (it names " + r.peer->names + ")" : std::string());
        break;
    case cause::unknown_ca:
        d = "certificate of " + s + " is signed by an unknown CA (" + r.detail + "; tls_ca or the system store)";
        break;
    case cause::bad_certificate: d = "certificate of " + s + " does not verify (" + r.detail + ")"; break;
    case cause::alert:
    case cause::other:
    case cause::none: d = "TLS handshake with " + s + " failed (" + r.detail + ")"; break;
    }
    if (r.peer && r.cause != cause::emulated)
        d += "; certificate subject " + r.peer->subject + ", issuer " + r.peer->issuer + ", expires " + r.peer->not_after;
    return d;
}

std::string describe_access_denied(std::string_view client_ip, std::string_view rule, std::string_view origin) {
    std::string d = "client " + std::string(client_ip) + " matched block rule " + std::string(rule);
    d += origin.empty() ? std::string(" of [access]") : " of origin \"" + std::string(origin) + "\"";
    return d;
}

std::string describe_no_route(std::string_view host) {
    return "no [[origins]] hosts pattern matches \"" + std::string(host) + "\"";
}

} // namespace edge522
