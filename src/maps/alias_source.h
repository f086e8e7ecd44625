// The aliases(5) source format that postalias reads:
//   name: value, value, ...
// with continuation lines (see map_source.h), a quoted name ("a b": ...),
// and values that are addresses, "|command", /file or :include:/file.
// The value is stored as its comma-separated items, each trimmed and
// joined by ", ", as Postfix stores it.
#pragma once

#include <string>
#include <string_view>

#include "util/error.h"

namespace postern::maps {

struct AliasEntry {
  std::string name;   // unquoted, not yet case-folded
  std::string value;  // normalized
};

// Parses one logical line. kInvalid with Postfix's warning text:
// "need name:value pair" or "name must be local".
Result<AliasEntry> parse_alias_line(std::string_view line);

// Splits an alias value (or any address list) into its top-level,
// comma-separated items, respecting "quotes", <angle>, (comments), [literals].
std::string normalize_alias_value(std::string_view value);

}  // namespace postern::maps
