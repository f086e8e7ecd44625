// Address mapping cleanup does on envelope and header addresses:
// canonical_maps / sender_canonical_maps / recipient_canonical_maps,
// masquerade_domains, and virtual_alias_maps expansion with its
// recursion and fan-out limits.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "maps/address_lookup.h"
#include "util/error.h"

namespace postern::cleanup {

// Canonical rewriting of an address by trivial-rewrite ("local" or
// "remote" rule); injected so tests need no daemon.
using RewriteFn = std::function<std::string(std::string_view rule, std::string_view address)>;

struct MasqueradeSettings {
  std::vector<std::string> domains;     // masquerade_domains ("!x" = exclude)
  std::vector<std::string> exceptions;  // masquerade_exceptions (local parts)
};

// Strips host parts below a masquerade domain: user@host.example.com ->
// user@example.com for masquerade_domains = example.com. A "!domain"
// element that matches first leaves the address alone.
std::string masquerade(const MasqueradeSettings& s, std::string_view address);

// One canonical map lookup with Postfix's address strategy. The result
// keeps the unmatched address extension (propagate_unmatched_extensions).
// Unchanged when nothing matched; kTemporary when a table failed.
Result<std::string> canonical_lookup(maps::MapList& maps, std::string_view address,
                                     const maps::AddressLookupOptions& options,
                                     bool propagate_extension);

struct VirtualLimits {
  int recursion = 1000;  // virtual_alias_recursion_limit
  int expansion = 1000;  // virtual_alias_expansion_limit
};

// Virtual alias expansion of one recipient: each result address is
// expanded again until it maps to itself or to nothing. Errors: kTemporary
// with text "virtual_alias_maps map lookup problem for ADDR",
// "unreasonable virtual_alias_maps map nesting for ADDR" or
// "unreasonable virtual_alias_maps map expansion size for ADDR".
// `rewrite` canonicalizes each result (user -> user@myorigin).
Result<std::vector<std::string>> expand_virtual(maps::MapList& maps, std::string_view address,
                                                const maps::AddressLookupOptions& options,
                                                const VirtualLimits& limits,
                                                const RewriteFn& rewrite,
                                                bool propagate_extension);

}  // namespace postern::cleanup
