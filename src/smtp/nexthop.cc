#include "smtp/nexthop.h"

#include <netdb.h>

#include <charconv>

#include "util/inet.h"
#include "util/strings.h"

namespace postern::smtp {

Result<int> parse_port(std::string_view text) {
  if (text.empty()) return fail(Errc::kInvalid, "empty port");
  int port = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec == std::errc() && p == text.data() + text.size()) {
    if (port <= 0 || port > 65535) return fail(Errc::kInvalid, "bad port number: " + std::string(text));
    return port;
  }
  std::string name(text);
  if (const servent* s = ::getservbyname(name.c_str(), "tcp")) return ntohs(s->s_port);
  return fail(Errc::kInvalid, "unknown service: " + name + "/tcp");
}

Result<NextHop> parse_nexthop(std::string_view text, std::string_view default_port, bool lmtp) {
  NextHop hop;
  hop.text = std::string(trim(text));
  std::string_view rest = hop.text;
  if (rest.empty()) return fail(Errc::kInvalid, "empty next-hop destination");
  if (lmtp) hop.mx = false;
  if (lmtp && rest.starts_with("unix:")) {
    hop.kind = NextHop::Kind::kUnix;
    hop.host = std::string(rest.substr(5));
    hop.mx = false;
    if (hop.host.empty()) return fail(Errc::kInvalid, "bad next-hop destination: " + hop.text);
    return hop;
  }
  if (rest.starts_with("inet:")) {
    rest.remove_prefix(5);
  } else if (!lmtp && rest.starts_with("unix:")) {
    return fail(Errc::kInvalid, "unix-domain destination not supported by smtp: " + hop.text);
  }
  std::string_view port_text = default_port;
  if (rest.starts_with("[")) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos)
      return fail(Errc::kInvalid, "bad next-hop destination: missing ']': " + hop.text);
    hop.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':' || after.size() == 1)
        return fail(Errc::kInvalid, "bad next-hop destination: " + hop.text);
      port_text = after.substr(1);
    }
    hop.mx = false;
  } else {
    size_t colon = rest.rfind(':');
    // A bare IPv6 address has several colons; treat it as an address.
    if (colon != std::string_view::npos && rest.find(':') == colon) {
      hop.host = std::string(rest.substr(0, colon));
      port_text = rest.substr(colon + 1);
    } else {
      hop.host = std::string(rest);
    }
  }
  if (hop.host.starts_with("ipv6:") || hop.host.starts_with("IPv6:")) hop.host.erase(0, 5);
  if (hop.host.empty()) return fail(Errc::kInvalid, "bad next-hop destination: " + hop.text);
  if (IpAddress::parse(hop.host)) {
    hop.literal = true;
    hop.mx = false;
  }
  auto port = parse_port(port_text);
  if (!port) return fail(Errc::kInvalid, "bad next-hop destination " + hop.text + ": " + port.error().text);
  hop.port = *port;
  return hop;
}

}  // namespace postern::smtp
