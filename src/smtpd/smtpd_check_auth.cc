// Restrictions that look at who the client proved to be: its TLS client
// certificate (permit_tls_clientcerts, permit_tls_all_clientcerts,
// check_ccert_access) and its SASL login (reject_*sender_login_mismatch
// with smtpd_sender_login_maps). Replies as Postfix 3.7 gives them.
#include <fmt/format.h>

#include "global/config.h"
#include "global/expand.h"
#include "global/mail_address.h"
#include "smtpd/smtpd_check.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::smtpd {

Result<std::string> Checker::find_in_maps(std::string_view param,
                                          const std::vector<std::pair<std::string, bool>>& keys) {
  for (const auto& spec : list(param)) {
    if (spec.find(':') == std::string::npos) continue;
    for (const auto& [key, partial] : keys) {
      auto v = lookups_->table(spec, key, partial);
      if (v) return v;
      if (v.error().code != Errc::kNotFound) {
        log::warn("{}: table lookup problem: {}", spec, v.error().text);
        return std::unexpected(v.error());
      }
    }
  }
  return fail(Errc::kNotFound, "not found");
}

// Sender owner check (Postfix's reject_auth_sender_login_mismatch and
// reject_unauth_sender_login_mismatch). Keys as Postfix's mail_addr_find:
// the address, the address without its extension, then @domain.
Checker::Outcome Checker::login_mismatch(CheckState& state, Stage stage, bool check_auth,
                                         bool allow_unknown, bool check_unauth) {
  if (!cfg_->get_bool("smtpd_sasl_auth_enable")) {
    // Postfix's words (one line per half of the check).
    if (check_auth)
      log::warn("restriction `reject_authenticated_sender_login_mismatch' ignored: no SASL support");
    if (check_unauth)
      log::warn("restriction `reject_unauthenticated_sender_login_mismatch' ignored: no SASL support");
    return {};
  }
  if (!state.sender || state.sender->empty()) return {};
  if (list("smtpd_sender_login_maps").empty()) return {};
  const std::string& sender = *state.sender;
  std::string lower = lowercase(sender);
  SplitAddress sa = split_address(lower);
  std::vector<std::pair<std::string, bool>> keys{{lower, false}};
  std::string delim = cfg_->get("recipient_delimiter");
  if (!delim.empty()) {
    size_t d = sa.local.find_first_of(delim);
    if (d != std::string::npos && d > 0)
      keys.emplace_back(sa.local.substr(0, d) + (sa.has_at ? "@" + sa.domain : ""), true);
  }
  // For a domain of the local class, Postfix also tries the bare user
  // name (with, then without, the address extension).
  if (sa.has_at) {
    auto r = lookups_->resolve("", lower);
    if (r && (r->flags & kResolveClassLocal)) {
      keys.emplace_back(sa.local, true);
      if (size_t d = delim.empty() ? std::string::npos : sa.local.find_first_of(delim);
          d != std::string::npos && d > 0)
        keys.emplace_back(sa.local.substr(0, d), true);
    }
    keys.emplace_back("@" + sa.domain, true);
  }
  auto owners = find_in_maps("smtpd_sender_login_maps", keys);
  if (!owners && owners.error().code != Errc::kNotFound)
    return reject(state, stage, 451, "4.3.0",
                  fmt::format("<{}>: Sender address rejected: Temporary lookup failure", sender));
  if (!state.sasl_username.empty()) {
    if (!check_auth) return {};
    if (!owners && allow_unknown) return {};
    if (owners) {
      for (auto name : split(*owners, ", \t"))
        if (!name.empty() && iequals(name, state.sasl_username)) return {};
    }
    return reject(state, stage, 553, "5.7.1",
                  fmt::format("<{}>: Sender address rejected: not owned by user {}", sender,
                              state.sasl_username));
  }
  if (check_unauth && owners)
    return reject(state, stage, 553, "5.7.1",
                  fmt::format("<{}>: Sender address rejected: not logged in", sender));
  return {};
}

Checker::Outcome Checker::rbl_reply(CheckState& state, Stage stage, const std::string& spec,
                                    const std::string& zone, std::string_view rbl_class,
                                    const std::string& rbl_what, const std::string& reason) {
  std::string tmpl;
  std::vector<std::pair<std::string, bool>> keys{{spec, false}};
  if (zone != spec) keys.emplace_back(zone, false);
  auto found = find_in_maps("rbl_reply_maps", keys);
  if (found) tmpl = *found;
  else if (found.error().code != Errc::kNotFound)
    return reject(state, stage, 451, "4.3.0", "Temporary lookup failure");
  else tmpl = cfg_->raw("default_rbl_reply").value_or("");
  std::string code_text = std::to_string(code("maps_rbl_reject_code"));
  std::string sender = state.sender.value_or("");
  auto domain = [](const std::string& a) {
    size_t at = a.rfind('@');
    return at == std::string::npos ? std::string() : a.substr(at + 1);
  };
  // The template's own variables, then main.cf for the rest.
  ParamLookup vars = [&](std::string_view n) -> std::optional<std::string> {
    if (n == "rbl_code") return code_text;
    if (n == "rbl_class") return std::string(rbl_class);
    if (n == "rbl_what") return rbl_what;
    if (n == "rbl_domain") return zone;
    if (n == "rbl_reason" || n == "rbl_txt") return reason;
    if (n == "client_address") return state.client_addr;
    if (n == "client_name") return state.client_name;
    if (n == "reverse_client_name") return state.reverse_name;
    if (n == "helo_name") return state.helo;
    if (n == "sender") return sender;
    if (n == "sender_name") return sender.substr(0, sender.rfind('@'));
    if (n == "sender_domain") return domain(sender);
    if (n == "recipient") return state.recipient;
    if (n == "recipient_name") return state.recipient.substr(0, state.recipient.rfind('@'));
    if (n == "recipient_domain") return domain(state.recipient);
    return cfg_->raw(n);
  };
  auto text = expand_value(tmpl, vars);
  if (!text) {
    log::warn("{}: {}", found ? "rbl_reply_maps" : "default_rbl_reply", text.error().text);
    return reject(state, stage, 451, "4.3.5", "Server configuration error");
  }
  // "CODE [D.S.N] text", as an access map's numeric reply.
  std::string_view t = trim(*text);
  auto c = parse_long(t.substr(0, 3));
  if (t.size() < 4 || !c || (*c / 100 != 4 && *c / 100 != 5)) {
    log::warn("rbl reply for {}: bad reply code in \"{}\"", zone, printable(t));
    return reject(state, stage, 451, "4.3.5", "Server configuration error");
  }
  t = trim(t.substr(3));
  std::string dsn = "5.7.1";
  size_t sp = t.find(' ');
  std::string_view first = t.substr(0, sp);
  if (first.size() >= 5 && (first[0] == '4' || first[0] == '5') && first[1] == '.' &&
      first.find_first_not_of("0123456789.") == std::string_view::npos) {
    dsn = std::string(first);
    t = sp == std::string_view::npos ? std::string_view() : trim(t.substr(sp));
  }
  return reject(state, stage, static_cast<int>(*c), dsn, std::string(t));
}

std::optional<Checker::Outcome> Checker::auth_restriction(std::string_view name,
                                                          const std::vector<std::string>& words,
                                                          size_t& i, Stage stage,
                                                          CheckState& state, int depth) {
  Outcome permit;
  permit.result = Result3::kPermit;
  // Certificate fingerprint, then public-key fingerprint, as Postfix tries them.
  auto prints = [&]() {
    std::vector<std::pair<std::string, bool>> keys;
    if (!state.ccert_fingerprint.empty()) keys.emplace_back(state.ccert_fingerprint, false);
    if (!state.ccert_pkey_fingerprint.empty()) keys.emplace_back(state.ccert_pkey_fingerprint, false);
    return keys;
  };
  if (name == "permit_tls_all_clientcerts") {
    if (state.tls_active && state.ccert_present && state.ccert_trusted) return permit;
    return Outcome{};
  }
  if (name == "permit_tls_clientcerts") {
    if (!state.tls_active || !state.ccert_present) return Outcome{};
    auto found = find_in_maps("relay_clientcerts", prints());
    if (found) return permit;
    if (found.error().code != Errc::kNotFound)
      return reject(state, stage, 451, "4.3.0", "Temporary lookup failure");
    return Outcome{};
  }
  if (name == "check_ccert_access") {
    if (i + 1 >= words.size()) {
      log::warn("restriction {} requires a table argument", name);
      return reject(state, stage, 451, "4.3.5", "Server configuration error");
    }
    std::string spec = words[++i];
    if (!state.tls_active || !state.ccert_present) return Outcome{};
    for (const auto& [key, partial] : prints()) {
      auto v = lookups_->table(spec, key, partial);
      if (v)
        // Postfix names the certificate's CommonName: "<cn>: Client certificate rejected: ...".
        return action(*v, spec, stage, state, depth, state.ccert_subject, "Client certificate");
      if (v.error().code == Errc::kNotFound) continue;
      log::warn("{}: table lookup problem: {}", spec, v.error().text);
      return reject(state, stage, 451, "4.3.0", "Temporary lookup failure");
    }
    return Outcome{};
  }
  if (name == "reject_sender_login_mismatch")
    return login_mismatch(state, stage, true, false, true);
  if (name == "reject_known_sender_login_mismatch")
    return login_mismatch(state, stage, true, true, true);
  if (name == "reject_authenticated_sender_login_mismatch")
    return login_mismatch(state, stage, true, false, false);
  if (name == "reject_unauthenticated_sender_login_mismatch" ||
      name == "reject_unauth_sender_login_mismatch")
    return login_mismatch(state, stage, false, false, true);
  if (name == "reject_plaintext_session") {
    if (state.tls_active) return Outcome{};
    return reject(state, stage, static_cast<int>(code("plaintext_reject_code")), "5.7.1",
                  "Session encryption is required");
  }
  return std::nullopt;
}

}  // namespace postern::smtpd
