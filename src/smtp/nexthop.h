// Next-hop destinations as trivial-rewrite, relayhost, transport maps and
// smtp_fallback_relay write them, and their meaning for the client:
//   example.com          look up MX records (then A/AAAA when there are none)
//   [mail.example.com]   no MX lookup: the host's own addresses
//   [192.0.2.1]          an address literal ([ipv6:2001:db8::1] too)
//   host:port, [host]:port   the same with another port (a number or a
//                        service name such as "submission")
// For LMTP also "inet:host[:port]" and "unix:/path" (a UNIX socket;
// relative paths are under the queue directory).
#pragma once

#include <string>
#include <string_view>

#include "util/error.h"

namespace postern::smtp {

struct NextHop {
  enum class Kind { kInet, kUnix };
  Kind kind = Kind::kInet;
  std::string host;     // without brackets; the path for kUnix
  int port = 0;         // resolved port number
  bool mx = true;       // MX lookup wanted (not bracketed, SMTP mode)
  bool literal = false; // host is an IP address literal
  std::string text;     // as given (for log lines and password lookups)
};

// Parses `text`; `default_port` is smtp_tcp_port / lmtp_tcp_port (a number
// or a service name), `lmtp` allows the unix:/inet: forms and turns MX
// lookups off. Errors name the bad destination.
Result<NextHop> parse_nexthop(std::string_view text, std::string_view default_port, bool lmtp);

// A port number or a /etc/services name for TCP; kInvalid when unknown.
Result<int> parse_port(std::string_view text);

}  // namespace postern::smtp
