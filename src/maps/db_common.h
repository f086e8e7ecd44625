// What ldap: and mysql: tables share (Postfix's cfg_parser and
// db_common): their parameters, the domain filter, the expansion of the
// query template (%s %u %d %1..%9) and of result_format.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "maps/map.h"
#include "util/error.h"

namespace postern::maps {

// Parameters from a file ("ldap:/etc/postfix/ldap-users.cf": name = value
// lines) or, for a name that is not an absolute path, from main.cf
// parameters "NAME_param" (ldap:foo reads foo_server_host, ...).
class TableConfig {
 public:
  static Result<TableConfig> load(const std::string& name);

  std::string get(std::string_view param, std::string_view fallback) const;
  // kInvalid "bad numerical configuration: NAME = VALUE" for junk.
  Result<long long> get_int(std::string_view param, long long fallback) const;
  Result<bool> get_bool(std::string_view param, bool fallback) const;
  bool has(std::string_view param) const;
  // The name Postfix's messages use for a parameter ("FILE_param" style
  // for files is "param", for main.cf "NAME_param").
  std::string label(std::string_view param) const;

 private:
  std::string prefix_;  // "NAME_" for main.cf parameters
  bool from_file_ = false;
  std::map<std::string, std::string, std::less<>> values_;
};

// Splits a key into the parts the expansions use.
struct KeyParts {
  std::string whole;
  std::string local;       // before the last '@' (the whole key without one)
  std::string domain;      // after the last '@' (empty without one)
  bool has_domain = false;
};
KeyParts split_key(std::string_view key);

// True when the key passes the `domain` filter (an empty filter passes
// everything; otherwise the key must be user@domain with a listed domain).
class DomainFilter {
 public:
  Status init(std::string_view list);  // names, or type:name tables
  Result<bool> accepts(std::string_view key);

 private:
  std::vector<std::string> names_;
  std::vector<MapPtr> maps_;
};

using Quoter = std::function<std::string(std::string_view)>;

// Expands a query template for `key`. Returns false (no query: the key
// cannot fill %d or %N) through `suppressed`. kInvalid for a bad %x.
Result<std::string> expand_query(std::string_view format, const KeyParts& key,
                                 const Quoter& quote, bool& suppressed);

// Expands result_format for one `value` found for `key`; false when the
// value lacks what %d/%u need (the value is then skipped).
bool expand_result(std::string_view format, std::string_view value, const KeyParts& key,
                   std::string& out);

}  // namespace postern::maps
