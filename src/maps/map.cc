// Map base class, "type:name" parsing and the table of openers.
#include "maps/map.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <ctime>
#include <utility>

#include "maps/openers.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::maps {

Map::Map(std::string type, std::string name, unsigned flags)
    : type_(std::move(type)), name_(std::move(name)), flags_(flags) {}

Map::~Map() = default;

std::string Map::fold(std::string_view key) const {
  bool fold = is_pattern() ? (flags_ & kFoldPattern) : (flags_ & kFoldFixed);
  return fold ? lowercase(key) : std::string(key);
}

Result<std::string> Map::lookup(std::string_view key) {
  auto v = do_lookup(fold(key));
  if (v && v->empty()) {
    // Postfix's complaint about tables that answer "" instead of nothing.
    log::warn("table {}: key {}: empty string result is not allowed", spec(), key);
    log::warn("table {} should return NO RESULT in case of NOT FOUND", spec());
  }
  return v;
}

Result<UpdateOutcome> Map::update(std::string_view key, std::string_view value) {
  return do_update(fold(key), value);
}

Status Map::remove(std::string_view key) { return do_remove(fold(key)); }

Result<UpdateOutcome> Map::do_update(std::string_view, std::string_view) {
  return fail(Errc::kPermanent, "table " + spec() + ": update operation is not supported");
}

Status Map::do_remove(std::string_view) {
  return fail(Errc::kPermanent, "table " + spec() + ": delete operation is not supported");
}

Status Map::sequence(const std::function<bool(std::string_view, std::string_view)>&) {
  return fail(Errc::kPermanent, "table " + spec() + ": sequence operation is not supported");
}

Status Map::commit() { return {}; }

void Map::watch_file(const std::string& path) {
  watched_path_ = path;
  watching_ = ::stat(path.c_str(), &watched_stat_) == 0;
}

bool Map::changed() const {
  if (!watching_) return false;
  struct stat now {};
  if (::stat(watched_path_.c_str(), &now) != 0) return true;
  return now.st_ino != watched_stat_.st_ino || now.st_dev != watched_stat_.st_dev ||
         now.st_mtim.tv_sec != watched_stat_.st_mtim.tv_sec ||
         now.st_mtim.tv_nsec != watched_stat_.st_mtim.tv_nsec;
}

namespace {

// proxy:type:name opens the inner table directly until proxymap exists.
Result<MapPtr> open_proxy(const std::string&, const std::string& name, unsigned flags) {
  log::info("proxy:{}: the proxymap service is not used yet; opening {} directly", name, name);
  return open_map(name, flags);
}

struct TypeEntry {
  std::string_view type;
  Opener opener;
};

// Sorted by name: postconf -m prints this order.
constexpr std::array kTypes = {
    TypeEntry{"btree", open_db},      TypeEntry{"cidr", open_cidr},
    TypeEntry{"environ", open_environ}, TypeEntry{"fail", open_fail},
    TypeEntry{"hash", open_db},       TypeEntry{"inline", open_inline},
    TypeEntry{"internal", open_internal},
    TypeEntry{"ldap", open_ldap},     TypeEntry{"lmdb", open_lmdb},
    TypeEntry{"mysql", open_mysql},   TypeEntry{"pcre", open_pcre},
    TypeEntry{"pipemap", open_pipemap}, TypeEntry{"proxy", open_proxy},
    TypeEntry{"randmap", open_randmap}, TypeEntry{"regexp", open_regexp},
    TypeEntry{"socketmap", open_socketmap}, TypeEntry{"static", open_static},
    TypeEntry{"tcp", open_tcp},       TypeEntry{"texthash", open_texthash},
    TypeEntry{"unionmap", open_unionmap}, TypeEntry{"unix", open_unix},
};

}  // namespace

Result<MapSpec> parse_map_spec(std::string_view spec, std::string_view default_type) {
  size_t colon = spec.find(':');
  MapSpec out;
  if (colon == std::string_view::npos) {
    if (default_type.empty() || spec.empty())
      return fail(Errc::kInvalid, "open dictionary: expecting \"type:name\" form instead of \"" +
                                      std::string(spec) + "\"");
    out.type = default_type;
    out.name = spec;
    return out;
  }
  out.type = spec.substr(0, colon);
  out.name = spec.substr(colon + 1);
  if (out.type.empty() || out.name.empty())
    return fail(Errc::kInvalid, "open dictionary: expecting \"type:name\" form instead of \"" +
                                    std::string(spec) + "\"");
  return out;
}

Result<MapPtr> open_map(std::string_view spec, unsigned flags, std::string_view default_type) {
  auto parsed = parse_map_spec(spec, default_type);
  if (!parsed) return std::unexpected(parsed.error());
  for (const TypeEntry& t : kTypes) {
    if (t.type == parsed->type) return t.opener(parsed->type, parsed->name, flags);
  }
  return fail(Errc::kPermanent, "unsupported dictionary type: " + parsed->type);
}

std::vector<std::string> split_map_list(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : s) {
    if (c == '{') ++depth;
    if (c == '}' && depth > 0) --depth;
    if (depth == 0 && kListSeparators.find(c) != std::string_view::npos) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    cur.push_back(c);
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string map_file_path(std::string_view type, std::string_view name) {
  if (type == "hash" || type == "btree") return std::string(name) + ".db";
  if (type == "lmdb") return std::string(name) + ".lmdb";
  return {};
}

namespace {
unsigned g_new_file_mode = 0644;
}

void set_new_file_mode(unsigned mode) { g_new_file_mode = mode & 07777; }
unsigned new_file_mode() { return g_new_file_mode; }

std::string temp_path_for(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid());
}

void warn_if_older_than_source(const std::string& db_path, const std::string& source_path) {
  struct stat db {}, source {};
  if (::stat(db_path.c_str(), &db) != 0 || ::stat(source_path.c_str(), &source) != 0) return;
  if (source.st_mtime > db.st_mtime && source.st_mtime < ::time(nullptr) - 100)
    log::warn("database {} is older than source file {}", db_path, source_path);
}

bool is_indexed_file_type(std::string_view type) {
  return type == "hash" || type == "btree" || type == "lmdb";
}

}  // namespace postern::maps
