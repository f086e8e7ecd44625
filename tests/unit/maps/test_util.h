// Helpers for the map unit tests: a scratch directory and file writer.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "maps/map.h"

namespace postern::maps::testing {

class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/postern-maps-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline MapPtr must_open(const std::string& spec, unsigned flags = kDefaultReadFlags) {
  auto m = open_map(spec, flags);
  EXPECT_TRUE(m.has_value()) << spec << ": " << (m ? "" : m.error().text);
  return m ? std::move(*m) : nullptr;
}

// The value, "<not found>" or "<temporary: ...>".
inline std::string q(Map& map, std::string_view key) {
  auto v = map.lookup(key);
  if (v) return *v;
  if (v.error().code == Errc::kNotFound) return "<not found>";
  return "<error " + std::to_string(int(v.error().code)) + ": " + v.error().text + ">";
}

}  // namespace postern::maps::testing
