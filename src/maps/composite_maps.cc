// Tables made of other tables: unionmap:{t1, t2, ...} (every table's
// values, joined with commas), pipemap:{t1, t2, ...} (each table's value is
// the next table's key) and randmap:{v1, v2, ...} (a random value).
#include <random>

#include "maps/openers.h"
#include "util/strings.h"

namespace postern::maps {
namespace {

// "{a, b, c}" -> its elements; false without the braces.
bool braced_elements(std::string_view name, std::vector<std::string>& out) {
  name = trim(name);
  if (name.size() < 2 || name.front() != '{' || name.back() != '}') return false;
  out.clear();
  for (std::string& e : split_map_list(name.substr(1, name.size() - 2))) {
    std::string_view v = trim(e);
    if (v.size() >= 2 && v.front() == '{' && v.back() == '}') v = trim(v.substr(1, v.size() - 2));
    out.emplace_back(v);
  }
  return !out.empty();
}

class CompositeMap final : public Map {
 public:
  CompositeMap(const std::string& type, const std::string& name, unsigned flags, bool pipe)
      : Map(type, name, flags & ~kFoldFixed), pipe_(pipe) {}
  std::vector<MapPtr> maps_;

 protected:
  Result<std::string> do_lookup(std::string_view key) override {
    if (pipe_) {
      std::string value(key);
      for (auto& m : maps_) {
        auto v = m->lookup(value);
        if (!v) return v;
        value = std::move(*v);
      }
      return value;
    }
    std::vector<std::string> values;
    for (auto& m : maps_) {
      auto v = m->lookup(key);
      if (v) values.push_back(std::move(*v));
      else if (v.error().code != Errc::kNotFound) return v;
    }
    if (values.empty()) return fail(Errc::kNotFound, "not found");
    return join(values, ",");
  }

 private:
  bool pipe_;
};

class RandMap final : public Map {
 public:
  RandMap(const std::string& type, const std::string& name, unsigned flags,
          std::vector<std::string> values)
      : Map(type, name, flags), values_(std::move(values)), rng_(std::random_device{}()) {}

 protected:
  Result<std::string> do_lookup(std::string_view) override {
    std::uniform_int_distribution<size_t> pick(0, values_.size() - 1);
    return values_[pick(rng_)];
  }

 private:
  std::vector<std::string> values_;
  std::mt19937 rng_;
};

Result<MapPtr> open_composite(const std::string& type, const std::string& name, unsigned flags,
                              bool pipe) {
  std::vector<std::string> specs;
  if (!braced_elements(name, specs))
    return fail(Errc::kInvalid, "bad syntax: \"" + type + ":" + name + "\"; need \"" + type +
                                    ":{type:name...}\"");
  auto map = std::make_unique<CompositeMap>(type, name, flags, pipe);
  for (const auto& spec : specs) {
    auto m = open_map(spec, flags);
    if (!m) return std::unexpected(m.error());
    map->maps_.push_back(std::move(*m));
  }
  return map;
}

}  // namespace

Result<MapPtr> open_unionmap(const std::string& type, const std::string& name, unsigned flags) {
  return open_composite(type, name, flags, false);
}

Result<MapPtr> open_pipemap(const std::string& type, const std::string& name, unsigned flags) {
  return open_composite(type, name, flags, true);
}

Result<MapPtr> open_randmap(const std::string& type, const std::string& name, unsigned flags) {
  std::vector<std::string> values;
  if (!braced_elements(name, values))
    return fail(Errc::kInvalid, "bad syntax: \"" + type + ":" + name + "\"; need \"" + type +
                                    ":{value...}\"");
  return std::make_unique<RandMap>(type, name, flags, std::move(values));
}

}  // namespace postern::maps
