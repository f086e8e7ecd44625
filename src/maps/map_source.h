// Reading table source text: "logical lines" as Postfix's table files use
// them. Blank lines and lines whose first non-blank character is '#' are
// skipped; a line that starts with white space continues the previous
// logical line (the newline is dropped, the leading space kept); trailing
// white space is removed. Each logical line carries the number of the
// physical line it started on, for error messages.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace postern::maps {

struct SourceLine {
  int number = 0;
  std::string text;
};

// Longest logical line we accept (a bigger one is an error, not a crash).
inline constexpr size_t kMaxLogicalLine = 1 << 20;

class LogicalLineReader {
 public:
  // Does not own `in`.
  explicit LogicalLineReader(std::FILE* in) : in_(in) {}
  // The next logical line; nullopt at the end. kTooLarge for a huge line.
  Result<std::optional<SourceLine>> next();

 private:
  bool read_physical(std::string& line);
  std::FILE* in_;
  int physical_ = 0;
  std::optional<SourceLine> pending_;
  bool eof_ = false;
};

// Every logical line of a file. kNotFound / kIo name the file as Postfix
// does: "open PATH: No such file or directory".
Result<std::vector<SourceLine>> read_logical_lines(const std::string& path);

// Splits "key<white space>value"; the value is empty when absent.
struct KeyValue {
  std::string_view key;
  std::string_view value;
};
KeyValue split_key_value(std::string_view text);

// Parses `lines` into `rules` for the pattern tables (regexp, pcre, cidr):
// `parse(line)` gives an optional rule (empty: skipped, already warned);
// each IF rule gets the index just past its ENDIF in `endif_index`. An
// ENDIF without IF is dropped with `endif_without_if` as warning; an IF
// left open extends to the end of the table.
template <class Rule, class Parse, class Warn>
void load_if_blocks(const std::vector<SourceLine>& lines, std::vector<Rule>& rules,
                    Parse parse, Warn warn, std::string_view endif_without_if) {
  std::vector<size_t> open_ifs;
  for (const SourceLine& line : lines) {
    auto rule = parse(line);
    if (!rule) continue;
    if (rule->kind == Rule::kEndif) {
      if (open_ifs.empty()) {
        warn(line.number, endif_without_if);
        continue;
      }
      rules[open_ifs.back()].endif_index = rules.size();
      open_ifs.pop_back();
    } else if (rule->kind == Rule::kIf) {
      open_ifs.push_back(rules.size());
    }
    rules.push_back(std::move(*rule));
  }
  while (!open_ifs.empty()) {
    warn(rules[open_ifs.back()].line, "IF has no matching ENDIF");
    rules[open_ifs.back()].endif_index = rules.size();
    open_ifs.pop_back();
  }
}

}  // namespace postern::maps
