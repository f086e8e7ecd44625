#include "global/map_types.h"

#include <array>

namespace postern {

// The types src/maps opens (see src/maps/map.cc), sorted as postconf -m
// prints them.
std::span<const std::string_view> supported_map_types() {
  static constexpr std::array<std::string_view, 21> kTypes = {
      "btree",   "cidr",   "environ",   "fail",   "hash", "inline",   "internal", "ldap",
      "lmdb",    "mysql",  "pcre",      "pipemap", "proxy", "randmap", "regexp",
      "socketmap", "static", "tcp",     "texthash", "unionmap", "unix",
  };
  return kTypes;
}

}  // namespace postern
