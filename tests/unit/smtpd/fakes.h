// Fakes for smtpd's outside world: resolve, tables, policy, DNS.
#pragma once

#include <map>
#include <string>

#include "smtpd/smtpd_check.h"

namespace postern::smtpd::testing {

class FakeLookups : public CheckLookups {
 public:
  // domain -> resolve class flags; unknown domains are kResolveClassDefault.
  std::map<std::string, int> classes;
  // "spec|key" -> value
  std::map<std::string, std::string> tables;
  std::map<std::string, std::string> policy_answers;  // endpoint -> action
  std::map<std::string, std::vector<std::string>> a_records;
  std::map<std::string, bool> domains;
  AttrList last_policy_request;

  Result<ResolveReply> resolve(std::string_view, std::string_view address) override {
    std::string a(address);
    ResolveReply r;
    r.recipient = a;
    size_t at = a.rfind('@');
    std::string domain = at == std::string::npos ? "localhost" : a.substr(at + 1);
    auto it = classes.find(domain);
    r.flags = it == classes.end() ? kResolveClassDefault : it->second;
    if (a.find('%') != std::string::npos || a.find('!') != std::string::npos) r.flags |= kResolveRouted;
    return r;
  }
  Result<std::string> table(std::string_view spec, std::string_view key, bool) override {
    auto it = tables.find(std::string(spec) + "|" + std::string(key));
    if (it == tables.end()) return fail(Errc::kNotFound, "not found");
    return it->second;
  }
  Result<std::string> policy(std::string_view endpoint, const AttrList& request) override {
    last_policy_request = request;
    auto it = policy_answers.find(std::string(endpoint));
    if (it == policy_answers.end()) return fail(Errc::kTemporary, "connection refused");
    return it->second;
  }
  Result<std::vector<std::string>> dns_a(std::string_view name) override {
    auto it = a_records.find(std::string(name));
    if (it == a_records.end()) return fail(Errc::kNotFound, "NXDOMAIN");
    return it->second;
  }
  Result<bool> domain_exists(std::string_view domain) override {
    auto it = domains.find(std::string(domain));
    if (it == domains.end()) return fail(Errc::kTemporary, "SERVFAIL");
    return it->second;
  }
  Result<std::vector<std::string>> dns_txt(std::string_view) override {
    return std::vector<std::string>{};
  }
};

}  // namespace postern::smtpd::testing
