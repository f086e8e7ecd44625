// DNS lookups through c-ares, with Postfix's distinction between "not
// found" (NXDOMAIN or no records of that type: a permanent answer) and
// "temporary failure" (timeout, SERVFAIL, unreachable server: try later).
//
// Results: Errc::kNotFound for NXDOMAIN/NODATA, Errc::kTemporary for
// failures worth retrying, Errc::kInvalid for a malformed name. The
// servers come from /etc/resolv.conf, or from the environment variable
// POSTERN_DNS_SERVERS ("127.0.0.1:5353,[::1]:53"), which tests and
// import_environment can set to point Postern at a local DNS server.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/inet.h"

namespace postern::dns {

struct MxRecord {
  int preference = 0;
  std::string host;  // lower case, without a trailing dot
};

struct MxResult {
  std::vector<MxRecord> hosts;  // by preference; equal preferences shuffled
  bool null_mx = false;         // RFC 7505: "0 ." means the domain takes no mail
};

struct ResolverOptions {
  std::chrono::milliseconds timeout{5000};  // per try
  int tries = 2;
  std::string servers;  // overrides POSTERN_DNS_SERVERS and resolv.conf when set
};

class Resolver {
 public:
  static Result<std::unique_ptr<Resolver>> create(const ResolverOptions& options = {});
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // MX records of a domain. A domain with no MX records is kNotFound
  // (callers then try its A/AAAA records, as RFC 5321 says).
  Result<MxResult> mx(std::string_view domain);
  // A and/or AAAA records of a host, IPv4 first.
  Result<std::vector<IpAddress>> addresses(std::string_view host, bool want_v4, bool want_v6);
  // Host names of an address (PTR).
  Result<std::vector<std::string>> reverse(const IpAddress& addr);
  // TXT strings of a name (each record's strings concatenated).
  Result<std::vector<std::string>> txt(std::string_view name);

 private:
  struct Channel;
  explicit Resolver(std::unique_ptr<Channel> channel);
  Result<std::string> query(std::string_view name, int type);  // raw answer
  std::unique_ptr<Channel> channel_;
};

// The name to query for a DNSBL: "2.0.0.127.zen.example" for 127.0.0.2
// (IPv6: 32 reversed nibbles).
std::string reversed_address_name(const IpAddress& addr, std::string_view zone);

// Host lookup by the system resolver (getaddrinfo: /etc/hosts, then DNS),
// for smtp_host_lookup = native.
Result<std::vector<IpAddress>> native_addresses(std::string_view host, bool want_v4, bool want_v6);

}  // namespace postern::dns
