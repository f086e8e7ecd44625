#include "smtpd/smtpd_rewrite_clients.h"

#include "global/config.h"
#include "util/inet.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::smtpd {

bool client_on_inet_interfaces(const Config& cfg, std::string_view addr) {
  auto ip = IpAddress::parse(addr);
  if (!ip) return false;
  for (auto w : split(cfg.get("inet_interfaces"), " \t,")) {
    if (w.empty()) continue;
    if (iequals(w, "all")) {
      if (ip->is_loopback()) return true;
      for (const auto& a : local_interface_addresses())
        if (a.address == *ip) return true;
      return false;
    }
    if (iequals(w, "loopback-only") || iequals(w, "localhost")) {
      if (ip->is_loopback()) return true;
      continue;
    }
    auto mine = IpAddress::parse(w);
    if (mine && *mine == *ip) return true;
  }
  return false;
}

LocalRewriteClients LocalRewriteClients::from_config(const Config& cfg, const TableLookup& lookup) {
  LocalRewriteClients c;
  c.cfg_ = &cfg;
  c.lookup_ = lookup;
  auto words = split(cfg.get("local_header_rewrite_clients"), " \t,");
  for (size_t i = 0; i < words.size(); ++i) {
    std::string_view w = words[i];
    if (w.empty()) continue;
    if (iequals(w, "permit_inet_interfaces")) {
      c.inet_interfaces_ = true;
    } else if (iequals(w, "permit_mynetworks")) {
      auto nets = MatchList::from_config(cfg, "mynetworks", lookup);
      if (nets) c.mynetworks_ = std::move(*nets);
      else log::warn("local_header_rewrite_clients: {}", nets.error().text);
    } else if (iequals(w, "permit_sasl_authenticated")) {
      c.sasl_ = true;
    } else if (iequals(w, "check_address_map")) {
      if (i + 1 < words.size()) c.address_maps_.emplace_back(words[++i]);
      else log::warn("local_header_rewrite_clients: check_address_map needs a table");
    }
  }
  return c;
}

bool LocalRewriteClients::local(std::string_view addr, bool sasl_authenticated) const {
  if (sasl_ && sasl_authenticated) return true;
  if (inet_interfaces_ && cfg_ && client_on_inet_interfaces(*cfg_, addr)) return true;
  if (mynetworks_) {
    auto m = mynetworks_->match_address(addr);
    if (m && *m) return true;
  }
  for (const auto& spec : address_maps_) {
    if (lookup_ && lookup_(spec, addr, false)) return true;  // found: the value does not matter
  }
  return false;
}

}  // namespace postern::smtpd
