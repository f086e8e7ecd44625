#include "smtp/state.h"

#include "global/config.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::smtp {

namespace {

std::vector<IpAddress> self_addresses(const Config& cfg) {
  std::vector<IpAddress> out;
  for (const char* param : {"inet_interfaces", "proxy_interfaces"}) {
    for (const auto& item : split(cfg.get(param))) {
      std::string v = lowercase(item);
      if (v == "all") {
        for (const auto& ia : local_interface_addresses()) out.push_back(ia.address);
      } else if (v == "loopback-only") {
        out.push_back(*IpAddress::parse("127.0.0.1"));
        out.push_back(*IpAddress::parse("::1"));
      } else if (auto a = IpAddress::parse(v)) {
        out.push_back(*a);
      } else if (auto r = dns::native_addresses(v, true, true)) {
        for (const auto& x : *r) out.push_back(x);
      }
    }
  }
  return out;
}

}  // namespace

ClientState& client_state(const Config& cfg, const Settings& s) {
  static std::unique_ptr<ClientState> state;
  if (state) return *state;
  state = std::make_unique<ClientState>();
  if (auto r = dns::Resolver::create(); r)
    state->resolver = std::move(*r);
  else
    state->resolver_error = r.error().text;
  auto level = tls::client_level(cfg, s.prefix);
  if (!level) {
    state->tls_error = level.error().text;
  } else {
    state->level = *level;
    if (*level != tls::Level::kNone || !trim(s.tls_policy_maps).empty()) {
      std::vector<std::string> problems;
      auto ctx = tls::ClientContext::create(cfg, s.prefix, &problems);
      if (ctx) {
        state->tls = std::move(*ctx);
      } else {
        state->tls_error = ctx.error().text;
        log::warn("{}: disabling TLS support", ctx.error().text);
        for (const auto& p : problems) log::warn("TLS library problem: {}", p);
      }
    }
  }
  if (!trim(s.tls_policy_maps).empty()) {
    auto m = maps::MapList::open(s.prefix + "_tls_policy_maps", s.tls_policy_maps);
    if (m) state->policy_maps = std::move(*m);
    else state->policy_error = m.error().text;
  }
  if (s.sasl_enable && !trim(s.sasl_password_maps).empty()) {
    auto m = maps::MapList::open(s.prefix + "_sasl_password_maps", s.sasl_password_maps);
    if (m) state->password_maps = std::move(*m);
    else state->password_error = m.error().text;
  }
  state->self = self_addresses(cfg);
  return *state;
}

}  // namespace postern::smtp
