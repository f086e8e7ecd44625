// main.cf: reading "name = value" entries and editing the file in place.
//
// Syntax (as Postfix): a logical line starts with a non-space character;
// a line that starts with white space continues it (the newline is
// dropped, the leading white space kept); empty lines and lines whose
// first non-space character is '#' are ignored and do not end a logical
// line. The last definition of a name wins.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace postern {

// One logical line with the number of its first physical line (1-based).
struct LogicalLine {
  std::string text;
  int line = 0;
};

// Splits text into logical lines. Leading white space on the first
// logical line (a continuation with nothing to continue) starts a line.
std::vector<LogicalLine> read_logical_lines(std::string_view text);

struct MainCfEntry {
  std::string name;
  std::string value;
  int line = 0;
};

// "name = value" per logical line. An error names the file and line:
// "PATH, line N: missing '=' after attribute name: "foo"".
Result<std::vector<MainCfEntry>> parse_main_cf(std::string_view text, std::string_view path);

// Splits one "name = value" text; the error text has no file/line prefix.
Result<std::pair<std::string, std::string>> split_name_value(std::string_view text);

// Edits to apply to main.cf text, line by line, preserving everything else.
struct MainCfEdit {
  enum class Action { kSet, kCommentOut, kRemove };
  Action action = Action::kSet;
  // name and new value (kSet), or just names; new names are appended in this order
  std::vector<std::pair<std::string, std::string>> values;
};

// Returns the edited text. kSet replaces the entry (and its continuation
// lines) where it stands and appends names that were not present;
// kCommentOut prefixes each of its lines with '#'; kRemove deletes them.
// Comment lines inside a continued entry are kept.
std::string edit_main_cf(std::string_view text, const MainCfEdit& edit);

}  // namespace postern
