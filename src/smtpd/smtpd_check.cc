#include "smtpd/smtpd_check.h"

#include <fmt/format.h>

#include "global/config.h"
#include "global/mail_address.h"
#include "util/inet.h"
#include "util/log.h"
#include "util/strings.h"
#include "smtpd/smtpd_verify.h"

namespace postern::smtpd {

std::string Reply::str() const {
  if (dsn.empty()) return fmt::format("{} {}", code, text);
  return fmt::format("{} {} {}", code, dsn, text);
}

std::string_view stage_name(Stage stage) {
  switch (stage) {
    case Stage::kClient: return "CONNECT";
    case Stage::kHelo: return "HELO";
    case Stage::kSender: return "MAIL";
    case Stage::kRecipient: return "RCPT";
    case Stage::kData: return "DATA";
    case Stage::kEndOfData: return "END-OF-MESSAGE";
    case Stage::kEtrn: return "ETRN";
    case Stage::kVrfy: return "VRFY";
  }
  return "";
}

namespace {

constexpr int kMaxDepth = 20;

struct ListInfo {
  std::string_view param;
  Stage stage;
};
constexpr ListInfo kLists[] = {
    {"smtpd_client_restrictions", Stage::kClient},
    {"smtpd_helo_restrictions", Stage::kHelo},
    {"smtpd_sender_restrictions", Stage::kSender},
    {"smtpd_relay_restrictions", Stage::kRecipient},
    {"smtpd_recipient_restrictions", Stage::kRecipient},
    {"smtpd_data_restrictions", Stage::kData},
    {"smtpd_end_of_data_restrictions", Stage::kEndOfData},
    {"smtpd_etrn_restrictions", Stage::kEtrn},
};

std::string domain_of(std::string_view address) {
  return lowercase(split_address(address).domain);
}

// "example.com" -> {"example.com"}; parents "com" are tried separately.
std::vector<std::string> parents(std::string_view domain) {
  std::vector<std::string> out;
  size_t dot = domain.find('.');
  while (dot != std::string_view::npos) {
    domain = domain.substr(dot + 1);
    if (domain.empty()) break;
    out.emplace_back(domain);
    dot = domain.find('.');
  }
  return out;
}

// DSN class digit follows the reply code: 4xx -> 4.x.x, 5xx -> 5.x.x.
std::string fix_dsn(int code, std::string_view dsn) {
  std::string d(dsn);
  if (!d.empty() && (code / 100 == 4 || code / 100 == 5)) d[0] = static_cast<char>('0' + code / 100);
  return d;
}

bool is_reply_code(std::string_view word) {
  return word.size() == 3 && (word[0] == '4' || word[0] == '5') && isdigit(static_cast<unsigned char>(word[1])) &&
         isdigit(static_cast<unsigned char>(word[2]));
}

bool is_dsn_code(std::string_view word) {
  if (word.size() < 5 || (word[0] != '4' && word[0] != '5') || word[1] != '.') return false;
  auto parts = split(word, ".");
  if (parts.size() != 3) return false;
  for (auto p : parts)
    if (p.empty() || p.find_first_not_of("0123456789") != std::string_view::npos) return false;
  return true;
}

}  // namespace

std::vector<std::string> Checker::list(std::string_view param) const {
  std::vector<std::string> out;
  auto value = cfg_->expand(param);
  if (!value) {
    log::warn("{}", value.error().text);
    return out;
  }
  for (auto w : split(*value, " \t\r\n,"))
    if (!w.empty()) out.emplace_back(w);
  return out;
}

std::vector<std::string> Checker::tables() const {
  std::vector<std::string> out = mynetworks_.tables();
  for (const auto& t : relay_domains_.tables()) out.push_back(t);
  auto scan = [&](const std::vector<std::string>& words) {
    for (size_t i = 0; i + 1 < words.size(); i++) {
      std::string w = lowercase(words[i]);
      if (w.starts_with("check_") && w.ends_with("_access")) out.push_back(words[i + 1]);
    }
  };
  for (const auto& [name, words] : lists_) scan(words);
  for (const auto& [name, words] : classes_) scan(words);
  for (auto p : {"local_recipient_maps", "virtual_mailbox_maps", "virtual_alias_maps",
                 "relay_recipient_maps", "smtpd_sender_login_maps", "relay_clientcerts",
                 "rbl_reply_maps"})
    for (const auto& t : list(p))
      if (t.find(':') != std::string::npos) out.push_back(t);
  return out;
}

long long Checker::code(std::string_view param) const { return cfg_->get_int(param); }

Result<Checker> Checker::from_config(const Config& cfg, CheckLookups& lookups) {
  Checker c;
  c.cfg_ = &cfg;
  c.lookups_ = &lookups;
  for (const auto& l : kLists) c.lists_[std::string(l.param)] = c.list(l.param);
  for (const auto& name : c.list("smtpd_restriction_classes")) c.classes_[name] = c.list(name);
  TableLookup table = [&lookups](std::string_view spec, std::string_view key, bool partial) {
    return lookups.table(spec, key, partial);
  };
  auto nets = MatchList::from_config(cfg, "mynetworks", table);
  if (!nets) return std::unexpected(nets.error());
  c.mynetworks_ = std::move(*nets);
  auto relay = MatchList::from_config(cfg, "relay_domains", table);
  if (!relay) return std::unexpected(relay.error());
  c.relay_domains_ = std::move(*relay);
  c.delay_reject_ = cfg.get_bool("smtpd_delay_reject");
  c.helo_required_ = cfg.get_bool("smtpd_helo_required");
  c.soft_bounce_ = cfg.get_bool("soft_bounce");
  return c;
}

Checker::Outcome Checker::reject(CheckState& state, Stage stage, int code, std::string_view dsn,
                                 std::string text) {
  (void)state;
  (void)stage;
  Outcome o;
  o.result = Result3::kReject;
  if (soft_bounce_ && code / 100 == 5) code -= 100;
  o.reply = Reply{code, fix_dsn(code, dsn), std::move(text)};
  return o;
}

namespace {

struct ReplyName {
  std::string name;
  std::string_view klass;
};

ReplyName reply_name(Stage list_stage, const CheckState& s) {
  switch (list_stage) {
    case Stage::kClient: return {s.client_name + "[" + s.client_addr + "]", "Client host"};
    case Stage::kHelo: return {s.helo, "Helo command"};
    case Stage::kSender: return {s.sender.value_or(""), "Sender address"};
    case Stage::kRecipient:
    case Stage::kVrfy: return {s.recipient, "Recipient address"};
    case Stage::kData: return {"DATA", "Data command"};
    case Stage::kEndOfData: return {"END-OF-MESSAGE", "End-of-data"};
    case Stage::kEtrn: return {s.etrn_domain, "Etrn command"};
  }
  return {};
}

}  // namespace

Checker::Outcome Checker::action(std::string_view value, std::string_view table_name, Stage stage,
                                 CheckState& state, int depth, std::string_view rname,
                                 std::string_view rclass) {
  value = trim(value);
  size_t sp = value.find_first_of(" \t");
  std::string word = uppercase(value.substr(0, sp));
  std::string text = sp == std::string_view::npos ? "" : std::string(trim(value.substr(sp)));
  auto log_it = [&](std::string_view act, std::string_view detail) {
    if (state.log) state.log(act, stage_name(stage), detail);
  };
  if (word == "OK" || word == "PERMIT" || (value.size() >= 3 && value.substr(0, 3).find_first_not_of("0123456789") == std::string_view::npos && value[0] == '2')) {
    Outcome o;
    o.result = Result3::kPermit;
    return o;
  }
  if (word == "DUNNO") return {};
  if (word == "REJECT")
    return reject(state, stage, static_cast<int>(code("access_map_reject_code")), "5.7.1",
                  fmt::format("<{}>: {} rejected: {}", rname, rclass,
                              text.empty() ? "Access denied" : text));
  if (word == "DEFER")
    return reject(state, stage, static_cast<int>(code("access_map_defer_code")), "4.7.1",
                  fmt::format("<{}>: {} rejected: {}", rname, rclass,
                              text.empty() ? "Access denied" : text));
  if (is_reply_code(word)) {
    int c = std::stoi(word);
    std::string dsn = c / 100 == 4 ? "4.7.1" : "5.7.1";
    std::string_view rest = text;
    size_t sp2 = rest.find_first_of(" \t");
    if (is_dsn_code(rest.substr(0, sp2))) {
      dsn = std::string(rest.substr(0, sp2));
      rest = sp2 == std::string_view::npos ? "" : trim(rest.substr(sp2));
    }
    return reject(state, stage, c, dsn,
                  fmt::format("<{}>: {} rejected: {}", rname, rclass,
                              rest.empty() ? "Access denied" : std::string(rest)));
  }
  if (word == "DISCARD") {
    log_it("discard", fmt::format("<{}>: {} {}", rname, rclass,
                                  text.empty() ? "triggers DISCARD action" : text));
    state.discard = true;
    Outcome o;
    o.result = Result3::kPermit;
    return o;
  }
  if (word == "HOLD") {
    log_it("hold", fmt::format("<{}>: {} {}", rname, rclass,
                               text.empty() ? "triggers HOLD action" : text));
    state.hold = true;
    return {};
  }
  if (word == "WARN") {
    log_it("warn", fmt::format("<{}>: {} {}", rname, rclass, text));
    return {};
  }
  if (word == "FILTER") {
    log_it("filter", fmt::format("<{}>: {} triggers FILTER {}", rname, rclass, text));
    state.filter = text;
    return {};
  }
  if (word == "REDIRECT") {
    log_it("redirect", fmt::format("<{}>: {} triggers REDIRECT {}", rname, rclass, text));
    state.redirect = text;
    return {};
  }
  if (word == "PREPEND") {
    state.prepend.push_back(text);
    return {};
  }
  // Otherwise a restriction list (names, restriction classes).
  std::vector<std::string> words;
  for (auto w : split(value, " \t,"))
    if (!w.empty()) words.emplace_back(w);
  if (words.empty()) return {};
  for (const auto& w : words) {
    if (w.find_first_not_of("0123456789") == std::string::npos || iequals(w, "BCC") ||
        iequals(w, "INFO") || iequals(w, "SHUTDOWN")) {
      log::warn("access table {}: unknown or unsupported action \"{}\"", table_name, printable(value));
      return reject(state, stage, 451, "4.3.5", "Server configuration error");
    }
  }
  return run_list(table_name, words, stage, state, depth + 1);
}

Checker::Outcome Checker::access(std::string_view spec, Stage stage, CheckState& state, int depth,
                                 std::string_view what) {
  // Keys in Postfix's order for the kind of thing looked up.
  std::vector<std::pair<std::string, bool>> keys;
  ReplyName rn;
  auto add_domain = [&](const std::string& domain) {
    keys.emplace_back(domain, true);
    for (const auto& p : parents(domain)) keys.emplace_back(p, true);
  };
  if (what == "client") {
    rn = {state.client_name + "[" + state.client_addr + "]", "Client host"};
    if (state.client_name != "unknown") {
      keys.emplace_back(lowercase(state.client_name), false);
      for (const auto& p : parents(lowercase(state.client_name))) keys.emplace_back(p, true);
    }
    keys.emplace_back(state.client_addr, false);
    std::string a = state.client_addr;
    char sep = a.find(':') != std::string::npos ? ':' : '.';
    for (size_t pos = a.rfind(sep); pos != std::string::npos && pos > 0; pos = a.rfind(sep)) {
      a.resize(pos);
      keys.emplace_back(a, true);
    }
  } else if (what == "helo") {
    rn = {state.helo, "Helo command"};
    if (state.helo.empty()) return {};
    keys.emplace_back(lowercase(state.helo), false);
    for (const auto& p : parents(lowercase(state.helo))) keys.emplace_back(p, true);
  } else {
    std::string address = what == "sender" ? state.sender.value_or("") : state.recipient;
    rn = {address, what == "sender" ? "Sender address" : "Recipient address"};
    if (address.empty()) {
      keys.emplace_back(cfg_->get("smtpd_null_access_lookup_key"), false);
    } else {
      std::string lower = lowercase(address);
      keys.emplace_back(lower, false);
      SplitAddress sa = split_address(lower);
      if (sa.has_at) {
        add_domain(sa.domain);
        keys.emplace_back(sa.local + "@", true);
      }
    }
  }
  for (const auto& [key, partial] : keys) {
    auto value = lookups_->table(spec, key, partial);
    if (value) return action(*value, spec, stage, state, depth, rn.name, rn.klass);
    if (value.error().code == Errc::kNotFound) continue;
    log::warn("{}: table lookup problem: {}", spec, value.error().text);
    return reject(state, stage, 451, "4.3.0", "Temporary lookup failure");
  }
  return {};
}

Checker::Outcome Checker::policy(std::string_view endpoint, Stage stage, CheckState& state,
                                 int depth) {
  AttrList req;
  req.add("request", "smtpd_access_policy");
  req.add("protocol_state", stage == Stage::kClient ? "CONNECT" : std::string(stage_name(stage)));
  req.add("protocol_name", state.protocol);
  req.add("helo_name", state.helo);
  req.add("queue_id", "");
  req.add("sender", state.sender.value_or(""));
  req.add("recipient", state.recipient);
  req.add("recipient_count", state.recipient_count);
  req.add("client_address", state.client_addr);
  req.add("client_name", state.client_name);
  req.add("reverse_client_name", state.reverse_name);
  req.add("instance", "");
  req.add("sasl_method", "");
  req.add("sasl_username", state.sasl_username);
  req.add("sasl_sender", "");
  req.add("size", state.size);
  req.add("etrn_domain", state.etrn_domain);
  auto answer = lookups_->policy(endpoint, req);
  if (!answer) {
    log::warn("problem talking to server {}: {}", endpoint, answer.error().text);
    return reject(state, stage, 451, "4.3.5", "Server configuration problem");
  }
  ReplyName rn = reply_name(stage, state);
  return action(*answer, endpoint, stage, state, depth, rn.name, rn.klass);
}

Checker::Outcome Checker::unauth_destination(CheckState& state, Stage stage, bool defer,
                                             bool permit_form) {
  auto r = lookups_->resolve(state.sender.value_or(""), state.recipient);
  if (!r || (r->flags & kResolveFail))
    return reject(state, stage, 450, "4.3.0",
                  fmt::format("<{}>: Recipient address rejected: Temporary lookup failure",
                              state.recipient));
  bool ok = false;
  if (r->flags & kResolveClassFinal) ok = true;
  else if ((r->flags & kResolveClassRelay) && !(r->flags & kResolveRouted)) ok = true;
  if (permit_form) {
    Outcome o;
    if (ok) o.result = Result3::kPermit;
    return o;
  }
  if (ok) return {};
  int c = static_cast<int>(code("relay_domains_reject_code"));
  if (defer) c = 400 + c % 100;
  return reject(state, stage, c, defer ? "4.7.1" : "5.7.1",
                fmt::format("<{}>: Relay access denied", state.recipient));
}

Checker::Outcome Checker::unlisted_recipient(CheckState& state, Stage stage,
                                             std::string_view address, bool is_sender) {
  if (address.empty()) return {};
  auto r = lookups_->resolve(state.sender.value_or(""), address);
  std::string_view what = is_sender ? "Sender address" : "Recipient address";
  if (!r || (r->flags & kResolveFail))
    return reject(state, stage, 450, "4.3.0",
                  fmt::format("<{}>: {} rejected: Temporary lookup failure", address, what));
  std::string_view maps_param, code_param, table;
  if (r->flags & kResolveClassLocal) {
    maps_param = "local_recipient_maps";
    code_param = "unknown_local_recipient_reject_code";
    table = "local recipient table";
  } else if (r->flags & kResolveClassVirtual) {
    maps_param = "virtual_mailbox_maps";
    code_param = "unknown_virtual_mailbox_reject_code";
    table = "virtual mailbox table";
  } else if (r->flags & kResolveClassAlias) {
    maps_param = "virtual_alias_maps";
    code_param = "unknown_virtual_alias_reject_code";
    table = "virtual alias table";
  } else if (r->flags & kResolveClassRelay) {
    maps_param = "relay_recipient_maps";
    code_param = "unknown_relay_recipient_reject_code";
    table = "relay recipient table";
  } else {
    return {};
  }
  std::vector<std::string> tables = list(maps_param);
  if (tables.empty()) return {};
  std::string lower = lowercase(r->recipient.empty() ? std::string(address) : r->recipient);
  SplitAddress sa = split_address(lower);
  std::vector<std::pair<std::string, bool>> keys{{lower, false}};
  bool local = (r->flags & kResolveClassLocal) != 0;
  std::string delim = cfg_->get("recipient_delimiter");
  std::string user = sa.local;
  if (!delim.empty()) {
    size_t d = user.find_first_of(delim);
    if (d != std::string::npos && d > 0) {
      user.resize(d);
      keys.emplace_back(user + "@" + sa.domain, true);
    }
  }
  if (local) keys.emplace_back(user, true);
  if (sa.has_at) keys.emplace_back("@" + sa.domain, true);
  // Alias maps for local recipients are part of local_recipient_maps in Postfix
  // only through $alias_maps in its default value; honour what is configured.
  for (const auto& spec : tables) {
    for (const auto& [key, partial] : keys) {
      auto v = lookups_->table(spec, key, partial);
      if (v) return {};
      if (v.error().code != Errc::kNotFound)
        return reject(state, stage, 450, "4.3.0",
                      fmt::format("<{}>: {} rejected: Temporary lookup failure", address, what));
    }
  }
  return reject(state, stage, static_cast<int>(code(code_param)), is_sender ? "5.1.0" : "5.1.1",
                fmt::format("<{}>: {} rejected: User unknown in {}", address, what, table));
}

Checker::Outcome Checker::run_one(const std::vector<std::string>& words, size_t& i, Stage stage,
                                  CheckState& state, int depth) {
  std::string name = lowercase(words[i]);
  auto next_arg = [&]() -> std::optional<std::string> {
    if (i + 1 >= words.size()) return std::nullopt;
    return words[++i];
  };
  ReplyName rn = reply_name(stage, state);
  auto generic = [&](int c, std::string_view dsn, std::string_view why) {
    return reject(state, stage, c, dsn, fmt::format("<{}>: {} rejected: {}", rn.name, rn.klass, why));
  };
  Outcome permit;
  permit.result = Result3::kPermit;

  if (name == "permit") return permit;
  if (name == "reject") return generic(static_cast<int>(code("reject_code")), "5.7.1", "Access denied");
  if (name == "defer") return generic(static_cast<int>(code("defer_code")), "4.7.1", "Access denied");
  if (name == "warn_if_reject") {
    if (i + 1 >= words.size()) return {};
    i++;
    Outcome o = run_one(words, i, stage, state, depth);
    if (o.result == Result3::kReject) {
      if (state.log) state.log("reject_warning", stage_name(stage), o.reply.str());
      return {};
    }
    return o;
  }
  if (name == "permit_mynetworks") {
    auto m = mynetworks_.match_address(state.client_addr);
    if (m && *m) return permit;
    return {};
  }
  if (name == "permit_sasl_authenticated") {
    if (!state.sasl_username.empty()) return permit;
    return {};
  }
  if (name == "reject_unauth_destination" || name == "defer_unauth_destination" ||
      name == "permit_auth_destination" || name == "check_relay_domains") {
    if (state.recipient.empty() && stage != Stage::kRecipient) return {};
    return unauth_destination(state, stage, name == "defer_unauth_destination",
                              name == "permit_auth_destination");
  }
  if (name == "reject_unauth_pipelining") {
    if (state.unauth_pipelining)
      return reject(state, stage, 503, "5.5.0",
                    fmt::format("<{}>: {} rejected: Improper use of SMTP command pipelining",
                                rn.name, rn.klass));
    return {};
  }
  if (name == "reject_non_fqdn_helo_hostname" || name == "reject_non_fqdn_hostname") {
    if (state.helo.empty()) return {};
    bool literal = state.helo.front() == '[';
    if (!literal && !is_fqdn(state.helo))
      return reject(state, stage, static_cast<int>(code("non_fqdn_reject_code")), "5.5.2",
                    fmt::format("<{}>: Helo command rejected: need fully-qualified hostname", state.helo));
    return {};
  }
  if (name == "reject_invalid_helo_hostname" || name == "reject_invalid_hostname") {
    if (state.helo.empty()) return {};
    if (!valid_mailhost(state.helo) && !valid_hostname(state.helo))
      return reject(state, stage, static_cast<int>(code("invalid_hostname_reject_code")), "5.5.2",
                    fmt::format("<{}>: Helo command rejected: Invalid name", state.helo));
    return {};
  }
  if (name == "reject_non_fqdn_sender" || name == "reject_non_fqdn_recipient") {
    bool sender = name == "reject_non_fqdn_sender";
    std::string a = sender ? state.sender.value_or("") : state.recipient;
    if (a.empty()) return {};
    SplitAddress sa = split_address(a);
    if (!sa.has_at || sa.domain.empty() || (!is_fqdn(sa.domain) && sa.domain.front() != '['))
      return reject(state, stage, static_cast<int>(code("non_fqdn_reject_code")),
                    sender ? "5.5.2" : "5.5.2",
                    fmt::format("<{}>: {} rejected: need fully-qualified address", a,
                                sender ? "Sender address" : "Recipient address"));
    return {};
  }
  if (name == "reject_unknown_sender_domain" || name == "reject_unknown_recipient_domain") {
    bool sender = name == "reject_unknown_sender_domain";
    std::string a = sender ? state.sender.value_or("") : state.recipient;
    std::string domain = domain_of(a);
    if (a.empty() || domain.empty() || domain.front() == '[') return {};
    // Final destinations of this host are known to exist.
    auto r = lookups_->resolve(state.sender.value_or(""), a);
    if (r && (r->flags & kResolveClassFinal)) return {};
    auto exists = lookups_->domain_exists(domain);
    std::string_view what = sender ? "Sender address" : "Recipient address";
    std::string_view dsn = sender ? "4.1.8" : "4.1.2";
    if (!exists)
      return reject(state, stage, 450, dsn,
                    fmt::format("<{}>: {} rejected: Domain not found", a, what));
    if (!*exists)
      return reject(state, stage, static_cast<int>(code("unknown_address_reject_code")),
                    sender ? "5.1.8" : "5.1.2",
                    fmt::format("<{}>: {} rejected: Domain not found", a, what));
    return {};
  }
  if (name == "reject_unknown_client_hostname" || name == "reject_unknown_client" ||
      name == "reject_unknown_reverse_client_hostname") {
    bool reverse = name == "reject_unknown_reverse_client_hostname";
    const std::string& n = reverse ? state.reverse_name : state.client_name;
    if (n == "unknown")
      return reject(state, stage, static_cast<int>(code("unknown_client_reject_code")),
                    reverse ? "5.7.1" : "5.7.25",
                    fmt::format("Client host rejected: cannot find your {}hostname, [{}]",
                                reverse ? "reverse " : "", state.client_addr));
    return {};
  }
  if (name == "reject_rbl_client" || name == "permit_dnswl_client" ||
      name.starts_with("reject_rhsbl_") || name.starts_with("permit_rhswl_")) {
    auto arg = next_arg();
    if (!arg) {
      log::warn("restriction {} requires a domain name argument", name);
      return reject(state, stage, 451, "4.3.5", "Server configuration error");
    }
    std::string zone = *arg, want;
    if (size_t eq = zone.find('='); eq != std::string::npos) {
      want = zone.substr(eq + 1);
      zone.resize(eq);
    }
    std::string query, rbl_class, rbl_what;
    if (name == "reject_rbl_client" || name == "permit_dnswl_client") {
      auto ip = IpAddress::parse(state.client_addr);
      if (!ip) return {};
      std::string rev = ip->to_string();
      if (ip->is_v4()) {
        auto parts = split(rev, ".");
        std::string r;
        for (size_t k = parts.size(); k-- > 0;) r += std::string(parts[k]) + ".";
        query = r + zone;
      } else {
        return {};
      }
      rbl_class = "Client host";
      rbl_what = state.client_addr;
    } else {
      std::string dom;
      if (name.ends_with("_sender")) {
        dom = domain_of(state.sender.value_or(""));
        rbl_class = "Sender address";
      } else if (name.ends_with("_recipient")) {
        dom = domain_of(state.recipient);
        rbl_class = "Recipient address";
      } else if (name.ends_with("_helo")) {
        dom = lowercase(state.helo);
        rbl_class = "Helo command";
      } else if (name.ends_with("_reverse_client")) {
        dom = state.reverse_name == "unknown" ? "" : lowercase(state.reverse_name);
        rbl_class = "Reverse client host";
      } else {
        dom = state.client_name == "unknown" ? "" : lowercase(state.client_name);
        rbl_class = "Client host";
      }
      if (dom.empty() || dom.front() == '[') return {};
      rbl_what = dom;
      query = dom + "." + zone;
    }
    auto addrs = lookups_->dns_a(query);
    if (!addrs) return {};
    bool hit = false;
    for (const auto& a : *addrs) {
      if (!want.empty() && a != want) continue;
      hit = true;
    }
    if (!hit) return {};
    if (name.starts_with("permit_")) return permit;
    std::string reason;
    if (auto txt = lookups_->dns_txt(query); txt && !txt->empty()) reason = txt->front();
    return rbl_reply(state, stage, *arg, zone, rbl_class, rbl_what, reason);
  }
  if (name == "check_client_access" || name == "check_helo_access" ||
      name == "check_sender_access" || name == "check_recipient_access" ||
      name == "check_policy_service") {
    auto arg = next_arg();
    if (!arg) {
      log::warn("restriction {} requires a table argument", name);
      return reject(state, stage, 451, "4.3.5", "Server configuration error");
    }
    if (depth > kMaxDepth) return reject(state, stage, 451, "4.3.5", "Server configuration error");
    if (name == "check_policy_service") return policy(*arg, stage, state, depth);
    std::string what = name.substr(6, name.size() - 6 - 7);
    if (what == "sender" && !state.sender) return {};
    if (what == "recipient" && state.recipient.empty()) return {};
    return access(*arg, stage, state, depth, what);
  }
  if (name == "reject_unlisted_recipient" || name == "check_recipient_maps") {
    if (state.recipient.empty()) return {};
    return unlisted_recipient(state, stage, state.recipient, false);
  }
  if (name == "reject_unlisted_sender") {
    if (!state.sender || state.sender->empty()) return {};
    return unlisted_recipient(state, stage, *state.sender, true);
  }
  if (name == "reject_unverified_recipient" || name == "reject_unverified_sender") {
    // Address verification (smtpd_verify.h).
    bool sender = name == "reject_unverified_sender";
    std::string a = sender ? state.sender.value_or("") : state.recipient;
    if (a.empty()) return {};
    if (auto r = check_unverified(*cfg_, sender, a)) return reject(state, stage, r->code, r->dsn, r->text);
    return {};
  }
  if (auto o = auth_restriction(name, words, i, stage, state, depth)) return *o;
  if (auto c = classes_.find(name); c != classes_.end()) {
    if (depth > kMaxDepth) return reject(state, stage, 451, "4.3.5", "Server configuration error");
    return run_list(name, c->second, stage, state, depth + 1);
  }
  if (name == "permit_tls_clientcerts" || name == "permit_tls_all_clientcerts" ||
      name == "reject_plaintext_session" || name == "reject_authenticated_sender_login_mismatch" ||
      name == "reject_sender_login_mismatch" || name == "reject_multi_recipient_bounce" ||
      name == "reject_unauth_sender_login_mismatch" || name == "permit_inet_interfaces") {
    return {};
  }
  log::warn("unknown smtpd restriction: \"{}\"", printable(words[i]));
  return reject(state, stage, 451, "4.3.5", "Server configuration error");
}

Checker::Outcome Checker::run_list(std::string_view param, const std::vector<std::string>& words,
                                   Stage stage, CheckState& state, int depth) {
  (void)param;
  for (size_t i = 0; i < words.size(); i++) {
    if (state.discard) return {};
    Outcome o = run_one(words, i, stage, state, depth);
    if (o.result != Result3::kDunno) return o;
  }
  return {};
}

std::optional<Reply> Checker::check(Stage stage, CheckState& state) {
  auto run = [&](std::string_view param, Stage list_stage) -> Outcome {
    auto it = lists_.find(param);
    if (it == lists_.end()) return {};
    (void)list_stage;
    return run_list(param, it->second, list_stage, state, 0);
  };
  auto finish = [&](const Outcome& o, Stage log_stage) -> std::optional<Reply> {
    if (o.result != Result3::kReject) return std::nullopt;
    if (state.log) state.log("reject", stage_name(log_stage), o.reply.str());
    return o.reply;
  };
  // Runs a list whose reply classes are its own, logged at `log_stage`.
  auto one = [&](std::string_view param, Stage list_stage, Stage log_stage) {
    Outcome o = run(param, list_stage);
    return o.result == Result3::kReject ? finish(o, log_stage) : std::nullopt;
  };
  switch (stage) {
    case Stage::kClient:
      if (delay_reject_) return std::nullopt;
      return one("smtpd_client_restrictions", Stage::kClient, Stage::kClient);
    case Stage::kHelo:
      if (delay_reject_) return std::nullopt;
      return one("smtpd_helo_restrictions", Stage::kHelo, Stage::kHelo);
    case Stage::kSender:
      if (delay_reject_) return std::nullopt;
      return one("smtpd_sender_restrictions", Stage::kSender, Stage::kSender);
    case Stage::kRecipient:
    case Stage::kVrfy: {
      Stage log_stage = stage;
      if (delay_reject_) {
        for (auto [p, s] : {std::pair{"smtpd_client_restrictions", Stage::kClient},
                            std::pair{"smtpd_helo_restrictions", Stage::kHelo},
                            std::pair{"smtpd_sender_restrictions", Stage::kSender}}) {
          if (auto r = one(p, s, log_stage)) return r;
          if (state.discard) return std::nullopt;
        }
      }
      if (auto r = one("smtpd_relay_restrictions", Stage::kRecipient, log_stage)) return r;
      if (state.discard) return std::nullopt;
      if (auto r = one("smtpd_recipient_restrictions", Stage::kRecipient, log_stage)) return r;
      if (state.discard) return std::nullopt;
      // smtpd_reject_unlisted_recipient/sender apply whatever the lists said.
      if (cfg_->get_bool("smtpd_reject_unlisted_sender") && state.sender && !state.sender->empty()) {
        Outcome o = unlisted_recipient(state, Stage::kSender, *state.sender, true);
        if (o.result == Result3::kReject) return finish(o, log_stage);
      }
      if (cfg_->get_bool("smtpd_reject_unlisted_recipient") && !state.recipient.empty()) {
        Outcome o = unlisted_recipient(state, Stage::kRecipient, state.recipient, false);
        if (o.result == Result3::kReject) return finish(o, log_stage);
      }
      return std::nullopt;
    }
    case Stage::kData:
      return one("smtpd_data_restrictions", Stage::kData, Stage::kData);
    case Stage::kEndOfData:
      return one("smtpd_end_of_data_restrictions", Stage::kEndOfData, Stage::kEndOfData);
    case Stage::kEtrn:
      return one("smtpd_etrn_restrictions", Stage::kEtrn, Stage::kEtrn);
  }
  return std::nullopt;
}

}  // namespace postern::smtpd
