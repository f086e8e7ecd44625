// Address resolution: what trivial-rewrite's "resolve" request answers for
// a recipient: its address class, the delivery transport, the next hop and
// the canonical recipient, with flags for routed, bad or failed lookups.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "global/match_list.h"
#include "global/resolve_reply.h"
#include "trivial-rewrite/rewrite.h"
#include "util/inet.h"

namespace postern {

class Config;

struct ResolveSettings {
  RewriteContext canonical;  // the local rewriting context
  MatchList mydestination, virtual_alias_domains, virtual_mailbox_domains, relay_domains;
  std::vector<IpAddress> own_addresses;  // inet_interfaces + proxy_interfaces
  std::string myhostname;
  std::string local_transport, virtual_transport, relay_transport, default_transport;
  std::string relayhost;
  std::vector<std::string> transport_maps;
  bool transport_maps_parent = false;  // transport_maps in parent_domain_matches_subdomains
  std::vector<std::string> sender_relayhost_maps, sender_default_transport_maps;
  std::string empty_address_recipient = "MAILER-DAEMON";
  std::string empty_sender_key = "<>";
  std::string recipient_delimiter;
  bool resolve_null_domain = false;
  TableLookup lookup;

  // Reads every setting above from `cfg`; fails on a bad domain list.
  static Result<ResolveSettings> from_config(const Config& cfg, TableLookup lookup);
  // Every table these settings consult.
  std::vector<std::string> tables() const;
};

// The settings of the "verify" request (address probes, docs/verify.md):
// `base` with address_verify_local_transport, _virtual_transport,
// _relay_transport, _default_transport, _relayhost, _transport_maps and
// _sender_dependent_{relayhost,default_transport}_maps (by default the
// same values as for mail).
ResolveSettings verify_settings(const Config& cfg, ResolveSettings base);

// Resolves `address` (internal form) sent by `sender`.
ResolveReply resolve_address(const ResolveSettings& s, std::string_view sender,
                             std::string_view address);

// The addresses inet_interfaces (and proxy_interfaces) stand for: "all"
// means every interface address, "loopback-only" 127.0.0.1 and ::1.
std::vector<IpAddress> own_addresses(const Config& cfg);

}  // namespace postern
