// Tables without files of their own or kept in memory: static:, fail:,
// environ:, inline:{...}, texthash: and unix:passwd.byname/group.byname.
#include <grp.h>
#include <pwd.h>

#include <cstdlib>
#include <map>
#include <utility>
#include <vector>

#include "maps/map_source.h"
#include "maps/openers.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::maps {
namespace {

// Removes one pair of enclosing braces and the white space inside them.
std::string_view unbrace(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && s.front() == '{' && s.back() == '}') s = trim(s.substr(1, s.size() - 2));
  return s;
}

class StaticMap final : public Map {
 public:
  StaticMap(const std::string& type, const std::string& name, unsigned flags)
      : Map(type, name, flags), value_(unbrace(name)) {}

 protected:
  Result<std::string> do_lookup(std::string_view) override { return value_; }

 private:
  std::string value_;
};

class FailMap final : public Map {
 public:
  using Map::Map;

 protected:
  Result<std::string> do_lookup(std::string_view) override {
    return fail(Errc::kTemporary, "Application error");
  }
};

class EnvironMap final : public Map {
 public:
  using Map::Map;
  Status sequence(const std::function<bool(std::string_view, std::string_view)>& visit) override {
    for (char** e = environ; e && *e; ++e) {
      std::string_view entry(*e);
      size_t eq = entry.find('=');
      if (eq == std::string_view::npos) continue;
      if (!visit(entry.substr(0, eq), entry.substr(eq + 1))) break;
    }
    return {};
  }

 protected:
  Result<std::string> do_lookup(std::string_view key) override {
    const char* v = std::getenv(std::string(key).c_str());
    if (!v) return fail(Errc::kNotFound, "not found");
    return std::string(v);
  }
};

// An in-memory table (inline: and texthash:), kept in insertion order
// for sequence() and indexed for lookups.
class MemoryMap final : public Map {
 public:
  using Map::Map;

  // Adds an entry; false when the key is already there (the first wins).
  bool add(std::string key, std::string value) {
    key = fold(key);
    if (index_.contains(key)) return false;
    index_.emplace(key, entries_.size());
    entries_.emplace_back(std::move(key), std::move(value));
    return true;
  }

  Status sequence(const std::function<bool(std::string_view, std::string_view)>& visit) override {
    for (const auto& [k, v] : entries_)
      if (!k.empty() || !v.empty())
        if (!visit(k, v)) break;
    return {};
  }

  bool updatable = false;  // internal: accepts update and remove

 protected:
  Result<std::string> do_lookup(std::string_view key) override {
    auto it = index_.find(std::string(key));
    if (it == index_.end()) return fail(Errc::kNotFound, "not found");
    return entries_[it->second].second;
  }

  Result<UpdateOutcome> do_update(std::string_view key, std::string_view value) override {
    if (!updatable) return Map::do_update(key, value);
    auto it = index_.find(std::string(key));
    if (it == index_.end()) {
      add(std::string(key), std::string(value));
      return UpdateOutcome::kStored;
    }
    if (!(flags_ & kDupReplace) && (flags_ & (kDupWarn | kDupIgnore)))
      return UpdateOutcome::kDuplicateKept;
    entries_[it->second].second = value;
    return UpdateOutcome::kStored;
  }

  Status do_remove(std::string_view key) override {
    if (!updatable) return Map::do_remove(key);
    auto it = index_.find(std::string(key));
    if (it == index_.end()) return fail(Errc::kNotFound, "not found");
    entries_[it->second] = {};  // a hole keeps the other indexes valid
    index_.erase(it);
    return {};
  }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
  std::map<std::string, size_t, std::less<>> index_;
};

class UnixMap final : public Map {
 public:
  UnixMap(const std::string& type, const std::string& name, unsigned flags, bool group)
      : Map(type, name, flags), group_(group) {}

 protected:
  Result<std::string> do_lookup(std::string_view key) override {
    std::string k(key);
    if (group_) {
      struct group* g = ::getgrnam(k.c_str());
      if (!g) return fail(Errc::kNotFound, "not found");
      std::string members;
      for (char** m = g->gr_mem; m && *m; ++m) {
        if (!members.empty()) members += ',';
        members += *m;
      }
      return fmt::format("{}:{}:{}:{}", g->gr_name, g->gr_passwd, long(g->gr_gid), members);
    }
    struct passwd* pw = ::getpwnam(k.c_str());
    if (!pw) return fail(Errc::kNotFound, "not found");
    return fmt::format("{}:{}:{}:{}:{}:{}:{}", pw->pw_name, pw->pw_passwd, long(pw->pw_uid),
                       long(pw->pw_gid), pw->pw_gecos, pw->pw_dir, pw->pw_shell);
  }

 private:
  bool group_;
};

}  // namespace

Result<MapPtr> open_static(const std::string& type, const std::string& name, unsigned flags) {
  return std::make_unique<StaticMap>(type, name, flags);
}

Result<MapPtr> open_fail(const std::string& type, const std::string& name, unsigned flags) {
  return std::make_unique<FailMap>(type, name, flags);
}

Result<MapPtr> open_environ(const std::string& type, const std::string& name, unsigned flags) {
  return std::make_unique<EnvironMap>(type, name, flags);
}

Result<MapPtr> open_unix(const std::string& type, const std::string& name, unsigned flags) {
  if (name != "passwd.byname" && name != "group.byname")
    return fail(Errc::kInvalid, "unknown table: " + type + ":" + name);
  return std::make_unique<UnixMap>(type, name, flags, name == "group.byname");
}

// internal:name, an in-memory table of this process that accepts updates.
Result<MapPtr> open_internal(const std::string& type, const std::string& name, unsigned flags) {
  auto map = std::make_unique<MemoryMap>(type, name, flags);
  map->updatable = true;
  return map;
}

// inline:{name=value, { name = text, with commas }, ...}
Result<MapPtr> open_inline(const std::string& type, const std::string& name, unsigned flags) {
  std::string spec = type + ":" + name;
  std::string_view body = trim(name);
  if (body.size() < 2 || body.front() != '{' || body.back() != '}')
    return fail(Errc::kInvalid, "bad syntax: \"" + spec + "\"; need \"inline:{name=value...}\"");
  auto map = std::make_unique<MemoryMap>(type, name, flags);
  for (const std::string& element : split_braced(body.substr(1, body.size() - 2))) {
    size_t eq = element.find('=');
    if (eq == std::string::npos)
      return fail(Errc::kInvalid, "missing '=' after attribute name: \"" + spec +
                                      "\"; need \"inline:{name=value...}\"");
    std::string key(trim(std::string_view(element).substr(0, eq)));
    std::string value(trim(std::string_view(element).substr(eq + 1)));
    map->add(std::move(key), std::move(value));
  }
  return map;
}

// texthash:FILE: postmap's input format, read into memory.
Result<MapPtr> open_texthash(const std::string& type, const std::string& name, unsigned flags) {
  auto lines = read_logical_lines(name);
  if (!lines) {
    Error e = lines.error();
    if (e.code == Errc::kNotFound || e.code == Errc::kIo)
      e.text = "open database " + e.text.substr(e.text.find(' ') + 1);
    return std::unexpected(e);
  }
  auto map = std::make_unique<MemoryMap>(type, name, flags);
  for (const SourceLine& line : *lines) {
    KeyValue kv = split_key_value(line.text);
    if (kv.value.empty()) {
      log::warn("{}, line {}: expected format: key whitespace value -- ignoring this line", name,
                line.number);
      continue;
    }
    if (!map->add(std::string(kv.key), std::string(kv.value)))
      log::warn("{}, line {}: duplicate entry: \"{}\"", name, line.number, lowercase(kv.key));
  }
  return map;
}

}  // namespace postern::maps
