#include "smtp/servers.h"

#include <algorithm>

#include <fmt/format.h>

namespace postern::smtp {

std::string Server::name(bool with_port) const {
  if (!unix_path.empty()) return fmt::format("{}[{}]", host, unix_path);
  std::string n = fmt::format("{}[{}]", host, addr.to_string());
  if (with_port) n += fmt::format(":{}", port);
  return n;
}

namespace {

LookupFailure from_error(const Error& e) {
  if (e.code == Errc::kNotFound || e.code == Errc::kInvalid) return {"5.4.4", e.text};
  // Postfix's text ends at "try again"; the resolver's detail goes.
  std::string text = e.text;
  if (size_t p = text.find("try again ("); p != std::string::npos) text.resize(p + 9);
  return {"4.4.3", text};
}

// Addresses of `host`: DNS, then the system resolver, as smtp_host_lookup says.
Result<std::vector<IpAddress>> host_addresses(const std::string& host, const LookupOptions& o,
                                              const Lookups& l) {
  std::optional<Error> first;
  if (o.use_dns && l.dns_addresses) {
    auto a = l.dns_addresses(host);
    if (a) return a;
    first = a.error();
    // A temporary DNS failure is not overridden by "not found" from /etc/hosts.
    if (a.error().code == Errc::kTemporary && !o.use_native) return a;
  }
  if (o.use_native && l.native_addresses) {
    auto a = l.native_addresses(host);
    if (a) return a;
    if (!first || first->code != Errc::kTemporary) {
      // Postfix's words for a getaddrinfo() failure ("host: reason" from src/dns).
      return fail(a.error().code, fmt::format("unable to look up host {}", a.error().text));
    }
  }
  if (first) return std::unexpected(*first);
  return fail(Errc::kNotFound, fmt::format("Host or domain name not found. Name service error for "
                                           "name={} type=A: Host not found",
                                           host));
}

void order_addresses(std::vector<IpAddress>& a, const LookupOptions& o) {
  if (o.prefer == "ipv6")
    std::stable_partition(a.begin(), a.end(), [](const IpAddress& x) { return x.is_v6(); });
  else if (o.prefer == "ipv4")
    std::stable_partition(a.begin(), a.end(), [](const IpAddress& x) { return x.is_v4(); });
}

bool wanted(const IpAddress& a, const LookupOptions& o) {
  return (a.is_v4() && o.want_v4) || (a.is_v6() && o.want_v6);
}

}  // namespace

std::expected<std::vector<Server>, LookupFailure> find_servers(const NextHop& hop,
                                                               const LookupOptions& o,
                                                               const Lookups& l) {
  std::vector<Server> out;
  if (hop.kind == NextHop::Kind::kUnix) {
    Server s;
    s.host = hop.host;
    s.unix_path = hop.host;
    s.dest = hop.text;
    out.push_back(s);
    return out;
  }
  if (hop.literal) {
    auto a = IpAddress::parse(hop.host);
    Server s;
    s.host = a->to_string();
    s.addr = *a;
    s.port = hop.port;
    s.dest = hop.text;
    if (!wanted(*a, o))
      return std::unexpected(LookupFailure{"4.4.4", fmt::format("network address conversion failed for {}: address family not enabled by inet_protocols", hop.host)});
    out.push_back(s);
    return out;
  }
  std::vector<std::pair<int, std::string>> mx;
  bool have_mx = false;
  if (hop.mx && o.mx_lookups && l.mx) {
    bool null_mx = false;
    auto r = l.mx(hop.host, &null_mx);
    if (null_mx)
      return std::unexpected(
          LookupFailure{"5.1.0", fmt::format("Domain {} does not accept mail (nullMX)", hop.host)});
    if (r) {
      mx = std::move(*r);
      have_mx = !mx.empty();
    } else if (r.error().code == Errc::kTemporary) {
      return std::unexpected(from_error(r.error()));
    }
  }
  if (!have_mx) {
    auto a = host_addresses(hop.host, o, l);
    if (!a) return std::unexpected(from_error(a.error()));
    order_addresses(*a, o);
    for (const auto& addr : *a) {
      if (!wanted(addr, o)) continue;
      Server s;
      s.host = hop.host;
      s.addr = addr;
      s.port = hop.port;
      s.dest = hop.text;
      out.push_back(s);
    }
    if (out.empty())
      return std::unexpected(LookupFailure{
          "5.4.4", fmt::format("Host or domain name not found. Name service error for name={} "
                               "type=A: Host not found",
                               hop.host)});
    return out;
  }
  // Resolve each MX host; stop at the preference of an MX that is this host.
  int best = mx.front().first;
  std::optional<int> self_pref;
  std::optional<LookupFailure> first_failure;
  std::vector<std::pair<int, Server>> found;
  for (const auto& [pref, host] : mx) {
    if (self_pref && pref >= *self_pref) break;
    auto a = host_addresses(host, o, l);
    if (!a) {
      if (!first_failure || a.error().code == Errc::kTemporary) {
        first_failure = from_error(a.error());
        if (a.error().code == Errc::kTemporary) first_failure->dsn = "4.4.3";
      }
      continue;
    }
    order_addresses(*a, o);
    bool self = false;
    for (const auto& addr : *a)
      if (o.is_self && o.is_self(addr)) self = true;
    if (self) {
      self_pref = pref;
      continue;
    }
    for (const auto& addr : *a) {
      if (!wanted(addr, o)) continue;
      Server s;
      s.host = host;
      s.addr = addr;
      s.port = hop.port;
      s.best_mx = pref == best;
      s.mx_lookup = true;
      s.dest = hop.text;
      found.emplace_back(pref, s);
    }
  }
  for (auto& [pref, s] : found)
    if (!self_pref || pref < *self_pref) out.push_back(std::move(s));
  if (out.empty()) {
    if (self_pref)
      return std::unexpected(
          LookupFailure{"5.4.6", fmt::format("mail for {} loops back to myself", hop.host)});
    if (first_failure) return std::unexpected(*first_failure);
    return std::unexpected(LookupFailure{"4.4.3", fmt::format("no usable address for {}", hop.host)});
  }
  return out;
}

// Keys for smtp_sasl_password_maps, most specific first.
std::vector<std::string> password_keys(const Server& srv) {
  std::vector<std::string> keys;
  auto add = [&](std::string k) {
    if (!k.empty() && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  };
  if (srv.unix_path.empty()) {
    add(fmt::format("[{}]:{}", srv.host, srv.port));
    add(srv.host);
  }
  add(srv.dest);
  // The next hop without port or brackets ("[relay.example]:587" → "[relay.example]").
  std::string d = srv.dest;
  if (d.starts_with("[")) {
    size_t close = d.find(']');
    if (close != std::string::npos) {
      add(d.substr(0, close + 1));
      add(d.substr(1, close - 1));
    }
  }
  return keys;
}

}  // namespace postern::smtp
