#include "trivial-rewrite/resolve.h"

#include "global/config.h"
#include "global/mail_address.h"
#include "util/strings.h"

namespace postern {

namespace {

constexpr int kMaxRoutingLoops = 20;

std::vector<std::string> table_list(const Config& cfg, std::string_view param) {
  std::vector<std::string> out;
  for (std::string& t : split_keeping_braces(cfg.get(param))) out.push_back(std::move(t));
  return out;
}

// The first table in `tables` that has `key`; nullopt when none has it.
Result<std::optional<std::string>> find_in(const ResolveSettings& s,
                                           const std::vector<std::string>& tables,
                                           std::string_view key, bool partial) {
  for (const std::string& table : tables) {
    if (!s.lookup) return fail(Errc::kTemporary, "no lookup table support for " + table);
    auto value = s.lookup(table, key, partial);
    if (value) return std::optional<std::string>(*value);
    if (value.error().code != Errc::kNotFound) return std::unexpected(value.error());
  }
  return std::optional<std::string>();
}

// user+ext@domain -> user@domain (the first delimiter character found).
std::optional<std::string> without_extension(const ResolveSettings& s,
                                             std::string_view address) {
  if (s.recipient_delimiter.empty()) return std::nullopt;
  SplitAddress parts = split_address(address);
  size_t cut = parts.local.find_first_of(s.recipient_delimiter);
  if (cut == std::string::npos || cut == 0) return std::nullopt;
  std::string out = parts.local.substr(0, cut);
  if (parts.has_at) out += "@" + parts.domain;
  return out;
}

// Sender-dependent tables: full address, without extension, then @domain.
Result<std::optional<std::string>> find_for_sender(const ResolveSettings& s,
                                                   const std::vector<std::string>& tables,
                                                   std::string_view sender) {
  if (tables.empty()) return std::optional<std::string>();
  if (sender.empty()) return find_in(s, tables, s.empty_sender_key, false);
  auto hit = find_in(s, tables, sender, false);
  if (!hit || *hit) return hit;
  if (auto bare = without_extension(s, sender)) {
    hit = find_in(s, tables, *bare, true);
    if (!hit || *hit) return hit;
  }
  SplitAddress parts = split_address(sender);
  if (!parts.has_at) return std::optional<std::string>();
  return find_in(s, tables, "@" + lowercase(parts.domain), true);
}

// transport_maps search: address, address without extension, domain, each
// parent (".parent" or "parent"), then "*".
Result<std::optional<std::string>> find_transport(const ResolveSettings& s,
                                                  std::string_view recipient,
                                                  std::string_view domain) {
  if (s.transport_maps.empty()) return std::optional<std::string>();
  std::string rcpt = lowercase(recipient);
  auto hit = find_in(s, s.transport_maps, rcpt, false);
  if (!hit || *hit) return hit;
  if (auto bare = without_extension(s, rcpt)) {
    hit = find_in(s, s.transport_maps, *bare, true);
    if (!hit || *hit) return hit;
  }
  std::string name = lowercase(domain);
  std::string_view entry = name;
  while (!entry.empty()) {
    hit = find_in(s, s.transport_maps, entry, true);
    if (!hit || *hit) return hit;
    size_t dot = entry.find('.', 1);
    if (dot == std::string_view::npos) break;
    entry = entry.substr(s.transport_maps_parent ? dot + 1 : dot);
  }
  return find_in(s, s.transport_maps, "*", true);
}

bool is_own_literal(const ResolveSettings& s, std::string_view domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return false;
  std::string_view inside = domain.substr(1, domain.size() - 2);
  if (istarts_with(inside, "ipv6:")) inside.remove_prefix(5);
  auto addr = IpAddress::parse(inside);
  if (!addr) return false;
  for (const IpAddress& own : s.own_addresses)
    if (own == *addr) return true;
  return false;
}

// True when `domain` is this machine (mydestination or one of its addresses).
Result<bool> is_local_domain(const ResolveSettings& s, std::string_view domain) {
  if (is_own_literal(s, domain)) return true;
  return s.mydestination.match_domain(domain);
}

// "transport:nexthop" -> the two parts (nexthop empty when absent).
std::pair<std::string, std::string> split_transport(std::string_view spec) {
  size_t colon = spec.find(':');
  if (colon == std::string_view::npos) return {std::string(spec), ""};
  return {std::string(spec.substr(0, colon)), std::string(spec.substr(colon + 1))};
}

bool has_routing(const ResolveSettings& s, std::string_view local) {
  return local.find('@') != std::string_view::npos ||
         (s.canonical.swap_bangpath && local.find('!') != std::string_view::npos) ||
         (s.canonical.percent_hack && local.find('%') != std::string_view::npos);
}

ResolveReply failed(std::string recipient) {
  ResolveReply r;
  r.recipient = std::move(recipient);
  r.flags = kResolveFail;
  return r;
}

}  // namespace

std::vector<IpAddress> own_addresses(const Config& cfg) {
  std::vector<IpAddress> out;
  auto add_list = [&](std::string_view param) {
    const std::string value = cfg.get(param);  // split() returns views into it
    for (std::string_view item : split(value)) {
      if (iequals(item, "all")) {
        for (const InterfaceAddress& a : local_interface_addresses()) out.push_back(a.address);
      } else if (iequals(item, "loopback-only")) {
        out.push_back(*IpAddress::parse("127.0.0.1"));
        out.push_back(*IpAddress::parse("::1"));
      } else {
        std::string_view host = item;
        if (host.size() > 2 && host.front() == '[' && host.back() == ']')
          host = host.substr(1, host.size() - 2);
        if (auto addr = IpAddress::parse(host)) out.push_back(*addr);
      }
    }
  };
  add_list("inet_interfaces");
  add_list("proxy_interfaces");
  return out;
}

Result<ResolveSettings> ResolveSettings::from_config(const Config& cfg, TableLookup lookup) {
  ResolveSettings s;
  s.lookup = std::move(lookup);
  s.canonical = RewriteSettings::from_config(cfg).local;
  for (auto [list, param] : {std::pair{&s.mydestination, "mydestination"},
                             {&s.virtual_alias_domains, "virtual_alias_domains"},
                             {&s.virtual_mailbox_domains, "virtual_mailbox_domains"},
                             {&s.relay_domains, "relay_domains"}}) {
    auto parsed = MatchList::from_config(cfg, param, s.lookup);
    if (!parsed) return std::unexpected(parsed.error());
    *list = std::move(*parsed);
  }
  s.own_addresses = postern::own_addresses(cfg);
  s.myhostname = cfg.get("myhostname");
  s.local_transport = cfg.get("local_transport");
  s.virtual_transport = cfg.get("virtual_transport");
  s.relay_transport = cfg.get("relay_transport");
  s.default_transport = cfg.get("default_transport");
  s.relayhost = cfg.get("relayhost");
  s.transport_maps = table_list(cfg, "transport_maps");
  s.transport_maps_parent = parent_domain_matches_subdomains(cfg, "transport_maps");
  s.sender_relayhost_maps = table_list(cfg, "sender_dependent_relayhost_maps");
  s.sender_default_transport_maps = table_list(cfg, "sender_dependent_default_transport_maps");
  s.empty_address_recipient = cfg.get("empty_address_recipient");
  s.empty_sender_key = cfg.get("empty_address_relayhost_maps_lookup_key");
  s.recipient_delimiter = cfg.get("recipient_delimiter");
  s.resolve_null_domain = cfg.get_bool("resolve_null_domain");
  return s;
}

ResolveSettings verify_settings(const Config& cfg, ResolveSettings s) {
  s.local_transport = cfg.get("address_verify_local_transport");
  s.virtual_transport = cfg.get("address_verify_virtual_transport");
  s.relay_transport = cfg.get("address_verify_relay_transport");
  s.default_transport = cfg.get("address_verify_default_transport");
  s.relayhost = cfg.get("address_verify_relayhost");
  s.transport_maps = table_list(cfg, "address_verify_transport_maps");
  s.sender_relayhost_maps = table_list(cfg, "address_verify_sender_dependent_relayhost_maps");
  s.sender_default_transport_maps =
      table_list(cfg, "address_verify_sender_dependent_default_transport_maps");
  return s;
}

std::vector<std::string> ResolveSettings::tables() const {
  std::vector<std::string> out;
  for (const MatchList* list :
       {&mydestination, &virtual_alias_domains, &virtual_mailbox_domains, &relay_domains})
    for (std::string& t : list->tables()) out.push_back(std::move(t));
  for (const auto* group : {&transport_maps, &sender_relayhost_maps, &sender_default_transport_maps})
    out.insert(out.end(), group->begin(), group->end());
  return out;
}

ResolveReply resolve_address(const ResolveSettings& s, std::string_view sender,
                             std::string_view address) {
  ResolveReply reply;
  std::string addr = rewrite_address(
      s.canonical, address.empty() ? std::string_view(s.empty_address_recipient) : address);
  std::string local_domain;  // the local domain we stripped, if any

  // Strip local domains; an address routed through this host (user%remote@
  // local, remote!user@local, user@remote@local) continues with what is left.
  for (int loops = 0; loops < kMaxRoutingLoops; ++loops) {
    while (addr.size() > 1 && addr.back() == '.' && addr[addr.size() - 2] != '@') addr.pop_back();
    size_t at = addr.rfind('@');
    if (at == std::string::npos) break;
    if (at + 1 == addr.size()) {
      if (!s.resolve_null_domain) {
        reply.flags |= kResolveError;
        break;
      }
      addr.pop_back();
      continue;
    }
    std::string domain = addr.substr(at + 1);
    auto local = is_local_domain(s, domain);
    if (!local) return failed(addr);
    if (!*local) break;
    local_domain = domain;
    std::string user = addr.substr(0, at);
    size_t bang = user.find('!');
    size_t percent = user.rfind('%');
    if (user.find('@') != std::string::npos) {
      addr = user;
    } else if (s.canonical.swap_bangpath && bang != std::string::npos) {
      addr = user.substr(bang + 1) + "@" + user.substr(0, bang);
    } else if (s.canonical.percent_hack && percent != std::string::npos) {
      user[percent] = '@';
      addr = user;
    } else {
      addr = user;
      break;
    }
    reply.flags |= kResolveRouted;
  }

  std::string domain;
  SplitAddress parts = split_address(addr);
  if (!parts.has_at || (parts.domain.empty() && !(reply.flags & kResolveError))) {
    // Final delivery on this machine.
    domain = local_domain.empty() ? s.myhostname : local_domain;
    reply.recipient = parts.local + "@" + domain;
    reply.flags |= kResolveClassLocal;
    std::tie(reply.transport, reply.nexthop) = split_transport(s.local_transport);
    if (reply.nexthop.empty()) reply.nexthop = s.myhostname;
  } else {
    domain = parts.domain;
    reply.recipient = addr;
    if (has_routing(s, parts.local)) reply.flags |= kResolveRouted;
    if (!domain.empty() && !valid_mailhost(domain)) reply.flags |= kResolveError;
    auto alias = s.virtual_alias_domains.match_domain(domain);
    if (!alias) return failed(addr);
    if (*alias) {
      reply.flags |= kResolveClassAlias;
      reply.transport = "error";
      reply.nexthop = "5.1.1 User unknown in virtual alias table";
    } else {
      auto mailbox = s.virtual_mailbox_domains.match_domain(domain);
      if (!mailbox) return failed(addr);
      auto relay = *mailbox ? Result<bool>(false) : s.relay_domains.match_domain(domain);
      if (!relay) return failed(addr);
      std::string channel;
      if (*mailbox) {
        reply.flags |= kResolveClassVirtual;
        channel = s.virtual_transport;
        reply.nexthop = domain;
      } else {
        reply.flags |= *relay ? kResolveClassRelay : kResolveClassDefault;
        channel = *relay ? s.relay_transport : s.default_transport;
        if (!*relay) {
          auto by_sender = find_for_sender(s, s.sender_default_transport_maps, sender);
          if (!by_sender) return failed(addr);
          if (*by_sender) channel = **by_sender;
        }
        auto relayhost = find_for_sender(s, s.sender_relayhost_maps, sender);
        if (!relayhost) return failed(addr);
        reply.nexthop = *relayhost ? **relayhost
                        : s.relayhost.empty() ? domain : s.relayhost;
      }
      auto [transport, nexthop] = split_transport(channel);
      reply.transport = transport;
      if (!nexthop.empty()) reply.nexthop = nexthop;
    }
  }

  // transport_maps override what the class chose.
  auto entry = find_transport(s, reply.recipient, domain);
  if (!entry) return failed(reply.recipient);
  if (*entry && !(*entry)->empty()) {
    auto [transport, nexthop] = split_transport(**entry);
    if (!transport.empty()) {
      reply.transport = transport;
      reply.nexthop = nexthop.empty() ? domain : nexthop;
    } else if (!nexthop.empty()) {
      reply.nexthop = nexthop;
    }
  }
  return reply;
}

}  // namespace postern
