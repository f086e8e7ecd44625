#include "maps/address_lookup.h"

#include <map>
#include <utility>

#include "global/config.h"
#include "util/strings.h"

namespace postern::maps {

Result<std::shared_ptr<Map>> open_shared_map(std::string_view spec, unsigned flags) {
  static std::map<std::pair<std::string, unsigned>, std::weak_ptr<Map>> cache;
  auto key = std::make_pair(std::string(spec), flags);
  if (auto it = cache.find(key); it != cache.end()) {
    if (auto m = it->second.lock(); m && !m->changed()) return m;
  }
  auto opened = open_map(spec, flags);
  if (!opened) return std::unexpected(opened.error());
  std::shared_ptr<Map> m = std::move(*opened);
  cache[key] = m;
  return m;
}

Result<MapList> MapList::open(std::string_view title, std::string_view tables, unsigned flags) {
  MapList list;
  list.title_ = title;
  for (const std::string& spec : split_map_list(tables)) {
    auto map = open_shared_map(spec, flags);
    if (!map) {
      Error e = map.error();
      e.text = std::string(title) + ": " + spec + ": " + e.text;
      return std::unexpected(e);
    }
    list.maps_.push_back(std::move(*map));
  }
  return list;
}

Result<std::string> MapList::find(std::string_view key, bool partial) {
  for (auto& map : maps_) {
    if (partial && map->is_pattern()) continue;
    auto v = map->lookup(key);
    if (v) return v;
    if (v.error().code != Errc::kNotFound) {
      Error e = v.error();
      e.code = Errc::kTemporary;
      e.text = title_ + ": " + map->spec() + ": " + e.text;
      return std::unexpected(e);
    }
  }
  return fail(Errc::kNotFound, "not found");
}

bool MapList::changed() const {
  for (const auto& m : maps_)
    if (m->changed()) return true;
  return false;
}

LocalPart split_extension(std::string_view local, std::string_view delimiters) {
  LocalPart out{std::string(local), {}, 0};
  if (delimiters.empty() || local.empty()) return out;
  size_t pos = local.find_first_of(delimiters);
  if (pos == std::string_view::npos || pos == 0) return out;
  char d = local[pos];
  if (d == '-') {
    if (istarts_with(local, "owner-") || iends_with(local, "-request")) return out;
  }
  out.user = local.substr(0, pos);
  out.extension = local.substr(pos + 1);
  out.delimiter = d;
  return out;
}

Result<std::string> find_address(MapList& maps, std::string_view address,
                                 const AddressLookupOptions& options, std::string* extension) {
  size_t at = address.rfind('@');
  std::string_view local = at == std::string_view::npos ? address : address.substr(0, at);
  std::string_view domain = at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
  LocalPart parts = split_extension(local, options.recipient_delimiter);
  bool has_ext = parts.delimiter != 0;
  if (extension) extension->clear();
  auto found_without_ext = [&](Result<std::string> r) {
    if (r && extension) *extension = parts.extension;
    return r;
  };
  auto r = maps.find(address);
  if (r || r.error().code != Errc::kNotFound) return r;
  if (at == std::string_view::npos) {
    if (has_ext) return found_without_ext(maps.find(parts.user, true));
    return r;
  }
  if (has_ext) {
    r = maps.find(parts.user + "@" + std::string(domain), true);
    if (r || r.error().code != Errc::kNotFound) return found_without_ext(std::move(r));
  }
  if (options.domain_is_local && options.domain_is_local(domain)) {
    r = maps.find(local, true);
    if (r || r.error().code != Errc::kNotFound) return r;
    if (has_ext) {
      r = maps.find(parts.user, true);
      if (r || r.error().code != Errc::kNotFound) return found_without_ext(std::move(r));
    }
  }
  if (options.try_at_domain) {
    r = maps.find("@" + std::string(domain), true);
    if (r || r.error().code != Errc::kNotFound) return r;
  }
  return fail(Errc::kNotFound, "not found");
}

Result<std::string> find_domain(MapList& maps, std::string_view domain,
                                bool parent_matches_subdomains, bool try_parents) {
  auto r = maps.find(domain);
  if (r || r.error().code != Errc::kNotFound || !try_parents) return r;
  for (size_t dot = domain.find('.'); dot != std::string_view::npos;
       dot = domain.find('.', dot + 1)) {
    std::string_view parent = domain.substr(dot + 1);
    if (parent.empty()) break;
    std::string key = parent_matches_subdomains ? std::string(parent) : "." + std::string(parent);
    r = maps.find(key, true);
    if (r || r.error().code != Errc::kNotFound) return r;
  }
  return fail(Errc::kNotFound, "not found");
}

bool parent_matches_subdomains(std::string_view feature) {
  std::string features = config().get("parent_domain_matches_subdomains");
  for (std::string_view f : split(features))
    if (f == feature) return true;
  return false;
}

}  // namespace postern::maps
