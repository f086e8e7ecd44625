// local_header_rewrite_clients: which SMTP clients get their message
// headers rewritten in the "local" context (incomplete addresses completed,
// missing Message-Id:/Date:/From: added by cleanup), as Postfix decides it.
// Understood: permit_inet_interfaces (the client is one of our own
// addresses), permit_mynetworks, permit_sasl_authenticated and
// check_address_map type:table (the client address is in the table); any
// other word (permit_tls_clientcerts, ...) does not make a client local.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "global/match_list.h"

namespace postern {
class Config;
}

namespace postern::smtpd {

// Whether `addr` is one of the addresses in inet_interfaces (or, for "all",
// any local interface address or loopback).
bool client_on_inet_interfaces(const Config& cfg, std::string_view addr);

class LocalRewriteClients {
 public:
  static LocalRewriteClients from_config(const Config& cfg, const TableLookup& lookup);
  bool local(std::string_view addr, bool sasl_authenticated) const;

 private:
  const Config* cfg_ = nullptr;
  bool inet_interfaces_ = false;
  bool sasl_ = false;
  std::optional<MatchList> mynetworks_;
  std::vector<std::string> address_maps_;
  TableLookup lookup_;
};

}  // namespace postern::smtpd
