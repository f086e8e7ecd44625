// regexp: tables with POSIX extended regular expressions (regcomp).
// Flags after the pattern toggle: i (case-insensitive, on by default),
// x (extended syntax, on by default), m (newline-sensitive, off).
#include <regex.h>

#include "maps/openers.h"
#include "maps/pattern_table.h"

namespace postern::maps {
namespace {

class PosixMatcher final : public Matcher {
 public:
  ~PosixMatcher() override {
    if (compiled_) ::regfree(&re_);
  }
  bool match(std::string_view subject, std::vector<std::pair<int, int>>* groups) override {
    std::string s(subject);
    if (!groups) return ::regexec(&re_, s.c_str(), 0, nullptr, 0) == 0;
    std::vector<regmatch_t> m(re_.re_nsub + 1);
    if (::regexec(&re_, s.c_str(), m.size(), m.data(), 0) != 0) return false;
    groups->clear();
    for (const regmatch_t& g : m) groups->emplace_back(int(g.rm_so), int(g.rm_eo));
    return true;
  }
  int group_count() const override { return int(re_.re_nsub); }
  regex_t re_{};
  bool compiled_ = false;
};

std::unique_ptr<Matcher> compile(const std::string& pattern, std::string_view flags,
                                 bool need_groups, std::string& error) {
  int cflags = REG_EXTENDED | REG_ICASE;
  for (char f : flags) {
    switch (f) {
      case 'i': cflags ^= REG_ICASE; break;
      case 'x': cflags ^= REG_EXTENDED; break;
      case 'm': cflags ^= REG_NEWLINE; break;
      default:
        error = std::string("unknown regexp option \"") + f + "\": skipping this rule";
        return nullptr;
    }
  }
  auto m = std::make_unique<PosixMatcher>();
  int rc = ::regcomp(&m->re_, pattern.c_str(), cflags);
  if (rc != 0) {
    char buf[256];
    ::regerror(rc, &m->re_, buf, sizeof buf);
    error = buf;
    return nullptr;
  }
  m->compiled_ = true;
  (void)need_groups;
  return m;
}

const Flavour kRegexp{"regexp", "skipping this rule", "out-of-range", compile};

}  // namespace

Result<MapPtr> open_regexp(const std::string& type, const std::string& name, unsigned flags) {
  return open_pattern_table(kRegexp, type, name, flags);
}

}  // namespace postern::maps
