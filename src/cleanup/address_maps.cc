#include "cleanup/address_maps.h"

#include <fmt/format.h>

#include <set>

#include "global/mail_address.h"
#include "util/strings.h"

namespace postern::cleanup {

std::string masquerade(const MasqueradeSettings& s, std::string_view address) {
  if (s.domains.empty()) return std::string(address);
  SplitAddress a = split_address(address);
  if (!a.has_at || a.domain.empty()) return std::string(address);
  std::string local = lowercase(a.local);
  for (const auto& ex : s.exceptions)
    if (lowercase(ex) == local) return std::string(address);
  std::string domain = lowercase(a.domain);
  for (const auto& raw : s.domains) {
    bool negate = !raw.empty() && raw[0] == '!';
    std::string m = lowercase(std::string_view(raw).substr(negate ? 1 : 0));
    if (!m.empty() && m[0] == '.') m.erase(0, 1);
    if (m.empty()) continue;
    if (domain == m) return std::string(address);  // already masqueraded
    if (domain.size() > m.size() && domain.ends_with(m) &&
        domain[domain.size() - m.size() - 1] == '.') {
      if (negate) return std::string(address);
      return a.local + "@" + m;
    }
  }
  return std::string(address);
}

namespace {

// Adds "+ext" back to the local part of `result` when a key without the
// extension matched.
std::string with_extension(const std::string& result, const std::string& ext,
                           std::string_view delimiters) {
  if (ext.empty() || delimiters.empty()) return result;
  SplitAddress r = split_address(result);
  std::string local = r.local + delimiters[0] + ext;
  return r.has_at ? local + "@" + r.domain : local;
}

}  // namespace

Result<std::string> canonical_lookup(maps::MapList& maps, std::string_view address,
                                     const maps::AddressLookupOptions& options,
                                     bool propagate_extension) {
  if (maps.empty() || address.empty()) return std::string(address);
  std::string ext;
  auto found = maps::find_address(maps, address, options, &ext);
  if (!found) {
    if (found.error().code == Errc::kNotFound) return std::string(address);
    return std::unexpected(found.error());
  }
  std::string value(trim(*found));
  // A multi-address value makes no sense for canonical mapping: first one.
  auto pieces = split(value);
  if (pieces.empty()) return std::string(address);
  std::string result(pieces[0]);
  if (propagate_extension) result = with_extension(result, ext, options.recipient_delimiter);
  return result;
}

namespace {

struct Expander {
  maps::MapList& maps;
  const maps::AddressLookupOptions& options;
  const VirtualLimits& limits;
  const RewriteFn& rewrite;
  bool propagate;
  std::string top;
  std::vector<std::string> out;
  std::set<std::string> seen_out;

  Status expand(const std::string& address, int depth, std::set<std::string>& path) {
    if (depth > limits.recursion)
      return fail(Errc::kTemporary,
                  fmt::format("unreasonable virtual_alias_maps map nesting for {}", top));
    std::string ext;
    auto found = maps::find_address(maps, address, options, &ext);
    if (!found) {
      if (found.error().code != Errc::kNotFound)
        return fail(Errc::kTemporary,
                    fmt::format("virtual_alias_maps map lookup problem for {}", address));
      return add(address);
    }
    for (auto piece : split(*found)) {
      std::string next(piece);
      if (propagate) next = with_extension(next, ext, options.recipient_delimiter);
      if (rewrite) next = rewrite("local", next);
      if (lowercase(next) == lowercase(address) || path.count(lowercase(next))) {
        // Maps to itself (or loops back): deliver to it as it is.
        if (auto st = add(next); !st) return st;
        continue;
      }
      path.insert(lowercase(next));
      auto st = expand(next, depth + 1, path);
      path.erase(lowercase(next));
      if (!st) return st;
    }
    return {};
  }

  Status add(const std::string& address) {
    if (!seen_out.insert(lowercase(address)).second) return {};
    if (static_cast<int>(out.size()) >= limits.expansion)
      return fail(Errc::kTemporary,
                  fmt::format("unreasonable virtual_alias_maps map expansion size for {}", top));
    out.push_back(address);
    return {};
  }
};

}  // namespace

Result<std::vector<std::string>> expand_virtual(maps::MapList& maps, std::string_view address,
                                                const maps::AddressLookupOptions& options,
                                                const VirtualLimits& limits,
                                                const RewriteFn& rewrite,
                                                bool propagate_extension) {
  if (maps.empty() || address.empty()) return std::vector<std::string>{std::string(address)};
  Expander e{maps, options, limits, rewrite, propagate_extension, std::string(address), {}, {}};
  std::set<std::string> path{lowercase(address)};
  if (auto st = e.expand(std::string(address), 0, path); !st) return std::unexpected(st.error());
  return std::move(e.out);
}

}  // namespace postern::cleanup
