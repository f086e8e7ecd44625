#include "maps/table_lookup.h"

#include <map>
#include <memory>

namespace postern::maps {

namespace {

struct TableCache {
  unsigned flags;
  std::map<std::string, MapPtr, std::less<>> open;

  Result<std::string> lookup(std::string_view spec, std::string_view key, bool partial) {
    auto it = open.find(spec);
    if (it == open.end()) {
      auto map = open_map(spec, flags);
      if (!map) return fail(Errc::kTemporary, map.error().text);
      it = open.emplace(std::string(spec), std::move(*map)).first;
    }
    if (partial && it->second->is_pattern()) return fail(Errc::kNotFound, "not found");
    return it->second->lookup(key);
  }
};

}  // namespace

TableLookup make_table_lookup(unsigned flags) {
  auto cache = std::make_shared<TableCache>();
  cache->flags = flags;
  return [cache](std::string_view spec, std::string_view key, bool partial) {
    return cache->lookup(spec, key, partial);
  };
}

Status preopen_tables(const TableLookup& lookup, const std::vector<std::string>& specs) {
  Status first;
  for (const std::string& spec : specs) {
    // Any key will do: what matters is that the table gets opened.
    auto r = lookup(spec, "postern-preopen-probe", false);
    if (!r && r.error().code == Errc::kTemporary && first) first = std::unexpected(r.error());
  }
  return first;
}

}  // namespace postern::maps
