// Lookup tables with their own configuration (ldap:, mysql:, pgsql:,
// sqlite:, memcache:), as postconf checks them: "type:/file" names a file
// whose parameters must be ones the type knows; "type:name" makes main.cf
// parameters "name_param" legitimate.
#include <array>

#include <fmt/format.h>

#include "global/main_cf.h"
#include "postconf/postconf.h"
#include "util/log.h"
#include "util/stream.h"
#include "util/strings.h"

namespace postern::postconf {
namespace {

struct DbmsInfo {
  std::string_view type;
  std::vector<std::string_view> params;
};

const std::array<DbmsInfo, 5>& dbms_types() {
  static const std::array<DbmsInfo, 5> kTypes{{
      {"ldap",
       {"domain", "server_host", "server_port", "timeout", "query_filter", "result_format",
        "result_attribute", "special_result_attribute", "terminal_result_attribute",
        "leaf_result_attribute", "search_base", "scope", "bind", "bind_dn", "bind_pw", "cache",
        "cache_expiry", "cache_size", "recursion_limit", "expansion_limit", "size_limit",
        "dereference", "chase_referrals", "version", "debuglevel", "sasl_mechs", "sasl_realm",
        "sasl_authz_id", "sasl_minssf", "start_tls", "tls_ca_cert_dir", "tls_ca_cert_file",
        "tls_cert", "tls_key", "tls_require_cert", "tls_random_file", "tls_cipher_suite"}},
      {"mysql",
       {"hosts", "user", "password", "dbname", "query", "result_format", "domain",
        "expansion_limit", "option_file", "option_group", "tls_cert_file", "tls_key_file",
        "tls_CAfile", "tls_CApath", "tls_ciphers", "tls_verify_cert", "require_result_set",
        "select_field", "table", "where_field", "additional_conditions"}},
      {"pgsql",
       {"hosts", "user", "password", "dbname", "query", "result_format", "domain",
        "expansion_limit", "select_field", "table", "where_field", "additional_conditions"}},
      {"sqlite",
       {"dbpath", "query", "result_format", "domain", "expansion_limit", "select_field",
        "table", "where_field", "additional_conditions"}},
      {"memcache",
       {"memcache", "backup", "flags", "ttl", "key_format", "domain", "data_size_limit",
        "line_size_limit", "max_try", "retry_pause", "timeout"}},
  }};
  return kTypes;
}

struct DbmsReference {
  const DbmsInfo* info;
  std::string name;  // an absolute file, or a parameter prefix
};

// Every "type:name" of a configured database type in `value`, looking
// through proxy: and braces.
std::vector<DbmsReference> references_in(std::string_view value) {
  std::vector<DbmsReference> out;
  for (std::string_view token : split(value, ", \t\r\n{}")) {
    while (istarts_with(token, "proxy:")) token.remove_prefix(6);
    for (const DbmsInfo& info : dbms_types()) {
      if (token.size() > info.type.size() + 1 && token.starts_with(info.type) &&
          token[info.type.size()] == ':') {
        out.push_back({&info, std::string(token.substr(info.type.size() + 1))});
      }
    }
  }
  return out;
}

bool knows(const DbmsInfo& info, std::string_view param) {
  for (std::string_view p : info.params)
    if (p == param) return true;
  return false;
}

}  // namespace

void add_dbms_parameter_names(const Config& cfg, std::set<std::string, std::less<>>& names) {
  for (const auto& e : cfg.main_cf_entries()) {
    if (!cfg.is_known(e.name)) continue;
    for (const DbmsReference& ref : references_in(e.value)) {
      if (ref.name.starts_with('/')) continue;
      for (std::string_view p : ref.info->params) names.insert(fmt::format("{}_{}", ref.name, p));
    }
  }
}

void warn_about_dbms_files(const Config& cfg) {
  std::set<std::string> checked;
  for (const auto& e : cfg.main_cf_entries()) {
    if (!cfg.is_known(e.name)) continue;
    for (const DbmsReference& ref : references_in(e.value)) {
      if (!ref.name.starts_with('/')) continue;
      if (!checked.insert(fmt::format("{}:{}", ref.info->type, ref.name)).second) continue;
      auto text = read_file(ref.name, 1 << 20);
      if (!text) {
        // The system's reason is the text after the last ": ".
        std::string_view reason = text.error().text;
        if (size_t colon = reason.rfind(": "); colon != std::string_view::npos)
          reason.remove_prefix(colon + 2);
        log::warn("open \"{}\" configuration \"{}\": {}", ref.info->type, ref.name, reason);
        continue;
      }
      auto entries = parse_main_cf(*text, ref.name);
      if (!entries) {
        log::warn("{}", entries.error().text);
        continue;
      }
      for (const auto& entry : *entries)
        if (!knows(*ref.info, entry.name))
          log::warn("{}:{}: unused parameter: {}={}", ref.info->type, ref.name, entry.name,
                    entry.value);
    }
  }
}

}  // namespace postern::postconf
