#include "proxy/diagnosis.hpp"

namespace edge522 {

std::string describe_connect(connect_result const& cr, config::origin_timeouts const& t) {
    std::string const ms = std::to_string(cr.connect_time.count() / 1000);
    std::string const from = cr.source.empty() ? std::string{} : " from " + cr.source;
    std::string d;
    switch (cr.why) {
    case failure::dns_failed:
        d = "resolving " + cr.address + " failed after " + std::to_string(cr.dns_time.count()) + " ms";
        break;
    case failure::connect_timeout:
        d = "TCP handshake" + from + " with " + cr.address + " not completed within " +
            config::format_duration(t.connect) + " (no SYN-ACK; waited " + ms + " ms)";
        if (cr.firewalled) d += "; the emulated origin firewall drops " + cr.source + " (not in firewall_allow)";
        break;
    case failure::connect_refused:
        d = "connect" + from + " to " + cr.address + " refused after " + ms + " ms";
        d += cr.firewalled ? " by the emulated origin firewall (" + cr.source + " not in firewall_allow, "
                             "firewall_action = \"reject\")"
                           : " (RST: nothing listening, or a firewall REJECT)";
        break;
    case failure::unreachable:
        d = "no route" + from + " to " + cr.address + " after " + ms + " ms";
        break;
    default:
        d = "connect" + from + " to " + cr.address + " failed after " + ms + " ms";
        break;
    }
    d += " (" + errno_name(cr.ec) + ")";
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
        d = ec ? "a response header line from " + s + " over 65000 bytes"
               : "response head from " + s + " over " + std::to_string(max_response_header) + " bytes";
        break;
    default:
        d = "origin " + s + " sent something that is not an HTTP response" + (ec ? " (" + ec.message() + ")" : "");
        break;
    }
    d += "; waited " + std::to_string(waited_ms) + " ms";
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
