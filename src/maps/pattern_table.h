// Tables of regular expressions with Postfix's regexp_table(5) and
// pcre_table(5) syntax, shared by regexp: (POSIX ERE) and pcre: (PCRE2):
//
//   /pattern/flags result     first matching rule wins
//   !/pattern/flags result    matches when the pattern does not
//   if /pattern/flags         rules up to the matching endif apply only
//   endif                     when the pattern matches (if !/.../ too)
//
// Any character may delimit the pattern; a backslash escapes it. The
// result may use $1..$N, ${N} or $(N) (what group N matched, or nothing)
// and $$ for a dollar sign. Bad rules are skipped with a warning that
// names the table file and line, as Postfix does.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "maps/map.h"

namespace postern::maps {

// One compiled regular expression of either flavour.
class Matcher {
 public:
  virtual ~Matcher() = default;
  // Whether `subject` matches; `groups` receives (start, end) offsets of
  // groups 0..N (-1 when a group did not take part) when not null.
  virtual bool match(std::string_view subject, std::vector<std::pair<int, int>>* groups) = 0;
  // The number of capture groups in the pattern.
  virtual int group_count() const = 0;
};

// Compiles `pattern` with `flags` (the letters after the closing delimiter).
// On failure returns null and sets `error` to the text after "line N: "
// in Postfix's warning (e.g. `unknown regexp option "q"`).
struct Flavour {
  std::string_view label;             // "regexp" or "pcre"
  std::string_view no_delimiter_tail; // "skipping this rule" / "ignoring this rule"
  std::string_view out_of_range;      // "out-of-range" / "out of range" (for $0)
  std::unique_ptr<Matcher> (*compile)(const std::string& pattern, std::string_view flags,
                                      bool need_groups, std::string& error);
};

// Opens a pattern table file (kNotFound: "open FILE: No such file...").
Result<MapPtr> open_pattern_table(const Flavour& flavour, const std::string& type,
                                  const std::string& name, unsigned flags);

// A replacement text split into literal pieces and group references.
struct Replacement {
  struct Piece {
    std::string text;  // literal, when group < 0
    int group = -1;
  };
  std::vector<Piece> pieces;
  int max_group = -1;
};

// Parses "$1 text ${2}" etc.; on error returns false and sets `warning`
// (a global warning such as `empty macro name: "$"`, possibly empty) and
// `line_warning` (text for the file/line warning, possibly empty).
// Group 0 is refused with "<out_of_range> replacement index "0"".
bool parse_replacement(std::string_view text, Replacement& out, std::string& warning,
                       std::string& line_warning, std::string_view out_of_range = "out of range");

}  // namespace postern::maps
