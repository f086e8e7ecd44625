// ldap: tables over OpenLDAP's client library, with the common
// ldap_table(5) parameters: server_host (names, host:port or URLs),
// server_port, search_base, query_filter, result_attribute,
// result_format, special_result_attribute (DNs to follow),
// leaf_result_attribute, terminal_result_attribute, recursion_limit,
// scope, bind, bind_dn, bind_pw, version, domain, timeout,
// size_limit, expansion_limit, dereference, chase_referrals, start_tls
// and tls_ca_cert_file, tls_ca_cert_dir, tls_cert, tls_key,
// tls_require_cert. A server that cannot be reached or bound to makes the
// lookup a temporary failure; the connection is retried on the next one.
#include <ldap.h>
#include <sys/time.h>

#include <vector>

#include "maps/db_common.h"
#include "maps/openers.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::maps {
namespace {

// RFC 4515 escaping of a value inside a search filter.
std::string filter_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '*': out += "\\2a"; break;
      case '(': out += "\\28"; break;
      case ')': out += "\\29"; break;
      case '\\': out += "\\5c"; break;
      case '\0': out += "\\00"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// RFC 4514 escaping of a value inside a DN (search_base expansions).
std::string dn_escape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool special = std::string_view(",+\"\\<>;=").find(c) != std::string_view::npos ||
                   (i == 0 && (c == ' ' || c == '#')) || (i + 1 == s.size() && c == ' ');
    if (special) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

struct LdapSettings {
  std::string uris;
  std::string search_base;
  std::string query_filter;
  std::vector<std::string> result_attributes;
  std::vector<std::string> leaf_attributes;      // leaf_result_attribute
  std::vector<std::string> special_attributes;   // special_result_attribute (DNs)
  std::vector<std::string> terminal_attributes;  // terminal_result_attribute
  int recursion_limit = 1000;
  std::string result_format;
  int scope = LDAP_SCOPE_SUBTREE;
  bool bind = true;
  std::string bind_dn, bind_pw;
  int version = 2;
  int timeout = 10;
  int size_limit = 0;
  int expansion_limit = 0;
  int dereference = 0;
  bool chase_referrals = false;
  bool start_tls = false;
  std::string tls_ca_cert_file, tls_ca_cert_dir, tls_cert, tls_key;
  bool tls_require_cert = false;
};

class LdapMap final : public Map {
 public:
  LdapMap(const std::string& type, const std::string& name, unsigned flags)
      : Map(type, name, flags) {}
  ~LdapMap() override { disconnect(); }

  Status configure(const TableConfig& cfg) {
    LdapSettings& s = settings_;
    std::string port = cfg.get("server_port", "389");
    std::vector<std::string> uris;
    std::string hosts = cfg.get("server_host", "localhost");
    for (std::string_view h : split(hosts)) {
      if (h.find("://") != std::string_view::npos) uris.emplace_back(h);
      else if (h.find(':') != std::string_view::npos) uris.push_back("ldap://" + std::string(h));
      else uris.push_back("ldap://" + std::string(h) + ":" + port);
    }
    s.uris = join(uris, " ");
    s.search_base = cfg.get("search_base", "");
    s.query_filter = cfg.get("query_filter", "(mailacceptinggeneralid=%s)");
    std::string attributes = cfg.get("result_attribute", "maildrop");
    for (std::string_view a : split(attributes))
      s.result_attributes.emplace_back(a);
    for (auto [param, list] : {std::pair{"leaf_result_attribute", &s.leaf_attributes},
                               {"special_result_attribute", &s.special_attributes},
                               {"terminal_result_attribute", &s.terminal_attributes}}) {
      std::string names = cfg.get(param, "");
      for (std::string_view a : split(names)) list->emplace_back(a);
    }
    s.result_format = cfg.get("result_format", cfg.get("result_filter", "%s"));
    std::string scope = lowercase(cfg.get("scope", "sub"));
    if (scope == "sub") s.scope = LDAP_SCOPE_SUBTREE;
    else if (scope == "one") s.scope = LDAP_SCOPE_ONELEVEL;
    else if (scope == "base") s.scope = LDAP_SCOPE_BASE;
    else return fail(Errc::kInvalid, name_ + ": unrecognized value for scope: " + scope);
    std::string bind = lowercase(cfg.get("bind", "yes"));
    if (bind == "sasl") return fail(Errc::kInvalid, name_ + ": bind = sasl is not supported");
    s.bind = bind != "no" && bind != "false" && bind != "0";
    s.bind_dn = cfg.get("bind_dn", "");
    s.bind_pw = cfg.get("bind_pw", "");
    auto ints = {std::pair{"version", &s.version}, {"timeout", &s.timeout},
                 {"size_limit", &s.size_limit}, {"expansion_limit", &s.expansion_limit},
                 {"dereference", &s.dereference}, {"recursion_limit", &s.recursion_limit}};
    for (auto [param, field] : ints) {
      auto v = cfg.get_int(param, *field);
      if (!v) return std::unexpected(v.error());
      *field = int(*v);
    }
    for (auto [param, field] : {std::pair{"chase_referrals", &s.chase_referrals},
                                {"start_tls", &s.start_tls},
                                {"tls_require_cert", &s.tls_require_cert}}) {
      auto v = cfg.get_bool(param, *field);
      if (!v) return std::unexpected(v.error());
      *field = *v;
    }
    s.tls_ca_cert_file = cfg.get("tls_ca_cert_file", "");
    s.tls_ca_cert_dir = cfg.get("tls_ca_cert_dir", "");
    s.tls_cert = cfg.get("tls_cert", "");
    s.tls_key = cfg.get("tls_key", "");
    return domains_.init(cfg.get("domain", ""));
  }

 protected:
  Result<std::string> do_lookup(std::string_view key) override {
    auto ok = domains_.accepts(key);
    if (!ok) return std::unexpected(ok.error());
    if (!*ok) return fail(Errc::kNotFound, "not found");
    KeyParts parts = split_key(key);
    bool suppressed = false;
    auto filter = expand_query(settings_.query_filter, parts, filter_escape, suppressed);
    if (!filter) return fail(Errc::kTemporary, filter.error().text);
    if (suppressed) return fail(Errc::kNotFound, "not found");
    auto base = expand_query(settings_.search_base, parts, dn_escape, suppressed);
    if (!base) return fail(Errc::kTemporary, base.error().text);
    if (suppressed) return fail(Errc::kNotFound, "not found");
    // One retry with a fresh connection when the server went away.
    for (int attempt = 0;; ++attempt) {
      if (!ld_) {
        if (auto s = connect(); !s) return std::unexpected(s.error());
      }
      auto r = search(*base, *filter, parts);
      if (r || r.error().code != Errc::kIo || attempt > 0) {
        if (!r && r.error().code == Errc::kIo) return fail(Errc::kTemporary, r.error().text);
        return r;
      }
      disconnect();
    }
  }

 private:
  void disconnect() {
    if (ld_) ldap_unbind_ext_s(ld_, nullptr, nullptr);
    ld_ = nullptr;
  }

  Status connect() {
    const LdapSettings& s = settings_;
    int rc = ldap_initialize(&ld_, s.uris.c_str());
    if (rc != LDAP_SUCCESS) {
      ld_ = nullptr;
      return fail(Errc::kTemporary, "ldap_initialize " + s.uris + ": " + ldap_err2string(rc));
    }
    int version = s.version;
    ldap_set_option(ld_, LDAP_OPT_PROTOCOL_VERSION, &version);
    timeval tv{s.timeout, 0};
    ldap_set_option(ld_, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(ld_, LDAP_OPT_TIMEOUT, &tv);
    ldap_set_option(ld_, LDAP_OPT_TIMELIMIT, &s.timeout);
    ldap_set_option(ld_, LDAP_OPT_SIZELIMIT, &s.size_limit);
    ldap_set_option(ld_, LDAP_OPT_DEREF, &s.dereference);
    ldap_set_option(ld_, LDAP_OPT_REFERRALS, s.chase_referrals ? LDAP_OPT_ON : LDAP_OPT_OFF);
    bool tls = s.start_tls || s.uris.find("ldaps://") != std::string::npos;
    if (tls) {
      int require = s.tls_require_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
      ldap_set_option(ld_, LDAP_OPT_X_TLS_REQUIRE_CERT, &require);
      auto set = [&](int opt, const std::string& v) {
        if (!v.empty()) ldap_set_option(ld_, opt, v.c_str());
      };
      set(LDAP_OPT_X_TLS_CACERTFILE, s.tls_ca_cert_file);
      set(LDAP_OPT_X_TLS_CACERTDIR, s.tls_ca_cert_dir);
      set(LDAP_OPT_X_TLS_CERTFILE, s.tls_cert);
      set(LDAP_OPT_X_TLS_KEYFILE, s.tls_key);
      int zero = 0;
      ldap_set_option(ld_, LDAP_OPT_X_TLS_NEWCTX, &zero);
    }
    if (s.start_tls) {
      rc = ldap_start_tls_s(ld_, nullptr, nullptr);
      if (rc != LDAP_SUCCESS) {
        std::string text = fmt::format("dict_ldap_connect: Unable to set STARTTLS: {}: {}", rc,
                                       ldap_err2string(rc));
        log::warn("{}", text);
        disconnect();
        return fail(Errc::kTemporary, text);
      }
    }
    if (s.bind) {
      berval cred{};
      cred.bv_val = const_cast<char*>(s.bind_pw.c_str());
      cred.bv_len = s.bind_pw.size();
      rc = ldap_sasl_bind_s(ld_, s.bind_dn.empty() ? nullptr : s.bind_dn.c_str(), LDAP_SASL_SIMPLE,
                            &cred, nullptr, nullptr, nullptr);
      if (rc != LDAP_SUCCESS) {
        std::string dn = s.bind_dn.empty() ? "empty or implicit" : s.bind_dn;
        std::string text = fmt::format("dict_ldap_connect: Unable to bind to server {} with dn {}: {} ({})",
                                       s.uris, dn, rc, ldap_err2string(rc));
        log::warn("{}", text);
        disconnect();
        return fail(Errc::kTemporary, text);
      }
    }
    return {};
  }

  // Runs one search; kIo when the connection failed (the caller
  // reconnects once), kNotFound for a missing base.
  Result<std::unique_ptr<LDAPMessage, int (*)(LDAPMessage*)>> run_search(
      const std::string& base, int scope, const std::string& filter) {
    const LdapSettings& s = settings_;
    std::vector<char*> attrs;
    for (const auto* list : {&s.result_attributes, &s.leaf_attributes, &s.special_attributes,
                             &s.terminal_attributes})
      for (const auto& a : *list) attrs.push_back(const_cast<char*>(a.c_str()));
    attrs.push_back(nullptr);
    timeval tv{s.timeout, 0};
    LDAPMessage* res = nullptr;
    int rc = ldap_search_ext_s(ld_, base.c_str(), scope, filter.c_str(), attrs.data(), 0,
                               nullptr, nullptr, &tv, s.size_limit, &res);
    std::unique_ptr<LDAPMessage, int (*)(LDAPMessage*)> guard(res, ldap_msgfree);
    if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_UNAVAILABLE)
      return fail(Errc::kIo, fmt::format("search {}: {}", s.uris, ldap_err2string(rc)));
    if (rc == LDAP_NO_SUCH_OBJECT) return fail(Errc::kNotFound, "not found");
    if (rc != LDAP_SUCCESS) {
      std::string text = fmt::format("dict_ldap_lookup: Search error {}: {}", rc, ldap_err2string(rc));
      log::warn("{}", text);
      return fail(Errc::kTemporary, text);
    }
    return guard;
  }

  std::vector<std::string> values_of(LDAPMessage* entry, const std::string& attr) {
    std::vector<std::string> out;
    berval** values = ldap_get_values_len(ld_, entry, attr.c_str());
    if (!values) return out;
    for (berval** v = values; *v; ++v) out.emplace_back((*v)->bv_val, (*v)->bv_len);
    ldap_value_free_len(values);
    return out;
  }

  // Adds an entry's values to `results`: terminal attributes end the
  // walk; otherwise result attributes (and leaf attributes when the entry
  // has no special attribute), then the entries that special attributes
  // name (DNs) are searched in turn, up to recursion_limit deep.
  Status collect(LDAPMessage* entry, const KeyParts& key, int depth,
                 std::vector<std::string>& results) {
    const LdapSettings& s = settings_;
    auto add = [&](const std::string& value) {
      std::string out;
      if (expand_result(s.result_format, value, key, out)) results.push_back(std::move(out));
    };
    bool terminal = false;
    for (const auto& attr : s.terminal_attributes)
      for (const auto& v : values_of(entry, attr)) {
        add(v);
        terminal = true;
      }
    if (terminal) return {};
    std::vector<std::string> dns;
    for (const auto& attr : s.special_attributes)
      for (auto& v : values_of(entry, attr)) dns.push_back(std::move(v));
    for (const auto& attr : s.result_attributes)
      for (const auto& v : values_of(entry, attr)) add(v);
    if (dns.empty())
      for (const auto& attr : s.leaf_attributes)
        for (const auto& v : values_of(entry, attr)) add(v);
    if (dns.empty()) return {};
    if (depth >= s.recursion_limit) {
      log::warn("{}: Recursion limit exceeded for key: '{}'", spec(), key.whole);
      return fail(Errc::kTemporary, "recursion limit exceeded");
    }
    for (const auto& dn : dns) {
      auto res = run_search(dn, LDAP_SCOPE_BASE, "(objectclass=*)");
      if (!res) {
        if (res.error().code == Errc::kNotFound) continue;
        return std::unexpected(res.error());
      }
      for (LDAPMessage* e = ldap_first_entry(ld_, res->get()); e; e = ldap_next_entry(ld_, e))
        if (auto st = collect(e, key, depth + 1, results); !st) return st;
    }
    return {};
  }

  Result<std::string> search(const std::string& base, const std::string& filter,
                             const KeyParts& key) {
    const LdapSettings& s = settings_;
    auto res = run_search(base, s.scope, filter);
    if (!res) return std::unexpected(res.error());
    std::vector<std::string> results;
    for (LDAPMessage* e = ldap_first_entry(ld_, res->get()); e; e = ldap_next_entry(ld_, e))
      if (auto st = collect(e, key, 1, results); !st) return std::unexpected(st.error());
    if (results.empty()) return fail(Errc::kNotFound, "not found");
    if (s.expansion_limit > 0 && results.size() > size_t(s.expansion_limit)) {
      std::string text = fmt::format("{}: {}: Expansion limit exceeded for key: '{}'", spec(),
                                     "dict_ldap_lookup", key.whole);
      log::warn("{}", text);
      return fail(Errc::kTemporary, text);
    }
    return join(results, ",");
  }

  LdapSettings settings_;
  DomainFilter domains_;
  LDAP* ld_ = nullptr;
};

}  // namespace

Result<MapPtr> open_ldap(const std::string& type, const std::string& name, unsigned flags) {
  auto cfg = TableConfig::load(name);
  if (!cfg) return std::unexpected(cfg.error());
  auto map = std::make_unique<LdapMap>(type, name, flags);
  if (auto s = map->configure(*cfg); !s) return std::unexpected(s.error());
  return map;
}

}  // namespace postern::maps
