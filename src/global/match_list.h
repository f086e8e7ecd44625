// Match lists: the parameter values that say "these domains", "these
// clients" or "these strings" (mydestination, relay_domains, mynetworks,
// smtpd_client_event_limit_exceptions, debug_peer_list, ...).
//
// A list is written as Postfix writes it: elements separated by commas or
// white space; `!element` negates; `type:table` consults a lookup table;
// `/file/name` reads more elements from a file. The first element that
// matches decides: a plain element means "yes", a negated one "no"; no match
// at all is "no".
//
// Domains: `example.com` matches itself, and its subdomains too when the
// list's parameter is named in parent_domain_matches_subdomains;
// `.example.com` always matches subdomains. Tables are asked for the name,
// then for each parent (as `parent.com` or `.parent.com` by the same rule).
// Addresses: an IP address, or a network `addr/len` (host bits must be zero),
// IPv6 optionally in brackets.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace postern {

class Config;

// Looks `key` up in the table `spec` ("hash:/etc/postfix/relay"): the value,
// Errc::kNotFound when absent, Errc::kTemporary when the table cannot answer.
// `partial` marks a derived key (a parent domain, user@, @domain): pattern
// tables (regexp, pcre, cidr) see only whole keys and answer kNotFound.
using TableLookup = std::function<Result<std::string>(std::string_view spec,
                                                      std::string_view key, bool partial)>;

struct MatchListOptions {
  // Name of the parameter the list came from; used in error messages and to
  // decide parent-domain matching.
  std::string param_name;
  bool parent_matches_subdomains = false;
  // Required only when the list contains `type:table` elements.
  TableLookup lookup;
};

class MatchList {
 public:
  MatchList() = default;

  // Parses `text` (already $-expanded). Fails with a message naming the
  // parameter (and file, for /file elements) on a bad network pattern, an
  // unreadable file, or a table element when no lookup is available.
  static Result<MatchList> parse(std::string_view text, MatchListOptions options);

  // Convenience: options from `cfg` for parameter `param` (its expanded
  // value, and whether it is listed in parent_domain_matches_subdomains).
  static Result<MatchList> from_config(const Config& cfg, std::string_view param,
                                       TableLookup lookup = {});

  // domain_list semantics: true when `domain` (case-insensitive, a trailing
  // dot ignored) matches. kTemporary when a table could not be consulted.
  Result<bool> match_domain(std::string_view domain) const;

  // namadr_list semantics (client lists): an element matches the hostname
  // as a domain or the address as an address or network.
  Result<bool> match_client(std::string_view hostname, std::string_view address) const;

  // addr_match_list semantics (mynetworks): only addresses and networks.
  Result<bool> match_address(std::string_view address) const;

  // string_list semantics: exact, case-insensitive string or table key.
  Result<bool> match_string(std::string_view text) const;

  bool empty() const { return elements_.empty(); }
  // The `type:table` elements, so a daemon can open them before chroot.
  std::vector<std::string> tables() const;

 private:
  struct Element {
    std::string pattern;  // lower-cased unless a table spec
    bool negated = false;
    bool is_table = false;
  };
  enum class Matcher { kDomain, kAddress, kString };

  Result<bool> match(std::initializer_list<std::pair<Matcher, std::string_view>> subjects) const;
  Result<bool> element_matches(const Element& e, Matcher how, std::string_view subject) const;
  Result<bool> domain_matches(const Element& e, std::string_view name) const;
  Result<bool> address_matches(const Element& e, std::string_view address) const;

  std::vector<Element> elements_;
  MatchListOptions options_;
};

// True when `param` is named in parent_domain_matches_subdomains.
bool parent_domain_matches_subdomains(const Config& cfg, std::string_view param);

}  // namespace postern
