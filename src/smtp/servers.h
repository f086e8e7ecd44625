// From a next hop to the servers to try, in order: MX hosts by preference
// (equal preferences shuffled by the resolver), each host's addresses per
// inet_protocols, or the host's own addresses for [host] and when a domain
// has no MX records. Null MX (RFC 7505) and MX lists that point back at
// this host end the search with Postfix's texts and status codes.
#pragma once

#include <expected>
#include <functional>
#include <string>
#include <vector>

#include "smtp/nexthop.h"
#include "util/inet.h"

namespace postern::smtp {

struct Server {
  std::string host;       // host name for log lines ("mx1.example.com", "127.0.0.1")
  IpAddress addr;         // unset for a UNIX socket
  int port = 0;
  std::string unix_path;  // LMTP over a UNIX socket
  bool best_mx = true;    // among the most preferred MX hosts (or no MX at all)
  bool mx_lookup = false; // found by MX lookup (for loop detection by EHLO name)
  std::string dest;       // the next hop it came from (password and policy lookups)
  // "host[addr]" (with ":port" for inet when with_port).
  std::string name(bool with_port = false) const;
};

// Why no server could be found: a status (4.x.x: try later, 5.x.x: bounce)
// and the reason text.
struct LookupFailure {
  std::string dsn;
  std::string reason;
};

struct LookupOptions {
  bool use_dns = true;      // smtp_host_lookup has "dns" and DNS lookups are enabled
  bool use_native = false;  // smtp_host_lookup has "native"
  bool want_v4 = true, want_v6 = true;  // inet_protocols
  // MX lookups when not bracketed (false when disable_dns_lookups or no dns).
  bool mx_lookups = true;
  std::string prefer;  // smtp_address_preference: "any", "ipv4", "ipv6"
  // Whether an address is this host's own (inet_interfaces, proxy_interfaces).
  std::function<bool(const IpAddress&)> is_self;
};

// The lookups the server search needs; DNS through src/dns in production,
// fakes in tests.
struct Lookups {
  // MX: hosts by preference; `null_mx` set for "0 ."; kNotFound when the
  // domain has no MX records (then its addresses are used).
  std::function<Result<std::vector<std::pair<int, std::string>>>(const std::string& domain,
                                                                 bool* null_mx)> mx;
  std::function<Result<std::vector<IpAddress>>(const std::string& host)> dns_addresses;
  std::function<Result<std::vector<IpAddress>>(const std::string& host)> native_addresses;
};

// The servers for one next hop; on failure the status and reason.
std::expected<std::vector<Server>, LookupFailure> find_servers(const NextHop& hop,
                                                               const LookupOptions& options,
                                                               const Lookups& lookups);

// Keys for smtp_sasl_password_maps after the sender, most specific first:
// "[host]:port", "host", the next hop as written, and the bracketed next
// hop without its port (with and without brackets).
std::vector<std::string> password_keys(const Server& srv);

}  // namespace postern::smtp
