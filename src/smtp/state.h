// What the client keeps across requests in one process: the resolver,
// the TLS context (with its session cache), the policy and password
// tables, and this host's own addresses (for MX loop detection).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/dns.h"
#include "maps/address_lookup.h"
#include "smtp/settings.h"
#include "tls/tls.h"
#include "util/inet.h"

namespace postern::smtp {

struct ClientState {
  std::unique_ptr<dns::Resolver> resolver;
  std::string resolver_error;
  std::unique_ptr<tls::ClientContext> tls;
  std::string tls_error;
  tls::Level level = tls::Level::kNone;
  std::optional<maps::MapList> policy_maps, password_maps;
  std::string policy_error, password_error;
  std::vector<IpAddress> self;
};

// The process's state, made on first use (call it before dropping
// privileges: password tables may be readable by root only).
ClientState& client_state(const Config& cfg, const Settings& settings);

}  // namespace postern::smtp
