// Lookup strategies over a list of tables, as Postfix's callers use them:
// the first table that knows a key wins, a table that cannot answer stops
// the search with a temporary failure (so the caller can defer rather
// than bounce), and pattern tables only ever see whole keys.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "maps/map.h"

namespace postern::maps {

// Opens "type:name" once per process and flags: later calls with the same
// spec and flags share the open table (as Postfix shares dict handles
// between parameters). A table whose file changed is opened afresh.
Result<std::shared_ptr<Map>> open_shared_map(std::string_view spec,
                                             unsigned flags = kDefaultReadFlags);

// The tables a parameter names: "hash:/etc/postfix/virtual, pcre:/x".
class MapList {
 public:
  MapList() = default;
  // Opens every table (shared, see open_shared_map); the error names the
  // parameter and the table.
  static Result<MapList> open(std::string_view title, std::string_view tables,
                              unsigned flags = kDefaultReadFlags);
  // The value from the first table that has `key`. With `partial`
  // (user@, @domain, parent-domain keys), pattern tables are skipped.
  Result<std::string> find(std::string_view key, bool partial = false);
  bool empty() const { return maps_.empty(); }
  // True when one of the files changed since it was opened.
  bool changed() const;
  const std::string& title() const { return title_; }
  void add(std::shared_ptr<Map> map) { maps_.push_back(std::move(map)); }

 private:
  std::string title_;
  std::vector<std::shared_ptr<Map>> maps_;
};

// Splits "user+ext" with recipient_delimiter (any of its characters; the
// first occurrence wins). No split for an empty delimiter set, a local
// part that starts with the delimiter, or "owner-x"/"x-request" with "-".
struct LocalPart {
  std::string user;
  std::string extension;  // without the delimiter character
  char delimiter = 0;
};
LocalPart split_extension(std::string_view local, std::string_view delimiters);

struct AddressLookupOptions {
  std::string recipient_delimiter;
  // Whether the bare local part may be looked up (Postfix does so for
  // domains in mydestination/inet_interfaces); unset means never.
  std::function<bool(std::string_view domain)> domain_is_local;
  bool try_at_domain = true;  // "@domain" as a last resort
};

// Postfix's address strategy: "user+ext@domain", "user@domain", then
// "user+ext" and "user" when the domain is local, then "@domain".
// `extension` receives the extension when a key without it matched.
Result<std::string> find_address(MapList& maps, std::string_view address,
                                 const AddressLookupOptions& options,
                                 std::string* extension = nullptr);

// A domain and its parents: "a.b.example" then "b.example" and "example"
// when parent domains match subdomains, else ".b.example" and ".example".
Result<std::string> find_domain(MapList& maps, std::string_view domain,
                                bool parent_matches_subdomains, bool try_parents = true);

// Whether parent_domain_matches_subdomains (from config()) lists `feature`
// (e.g. "smtpd_access_maps", "relay_domains").
bool parent_matches_subdomains(std::string_view feature);

}  // namespace postern::maps
