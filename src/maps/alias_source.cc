#include "maps/alias_source.h"

#include <vector>

#include "util/strings.h"

namespace postern::maps {
namespace {

// Position of the first `c` outside quotes and brackets; npos if none.
size_t find_top_level(std::string_view s, char c) {
  int angle = 0, paren = 0, square = 0;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (ch == '\\' && i + 1 < s.size()) {
      ++i;
      continue;
    }
    if (quoted) {
      if (ch == '"') quoted = false;
      continue;
    }
    if (ch == c && angle == 0 && paren == 0 && square == 0) return i;
    switch (ch) {
      case '"': quoted = true; break;
      case '<': ++angle; break;
      case '>': if (angle) --angle; break;
      case '(': ++paren; break;
      case ')': if (paren) --paren; break;
      case '[': ++square; break;
      case ']': if (square) --square; break;
      default: break;
    }
  }
  return std::string_view::npos;
}

// Collapses runs of white space outside quotes to one space.
std::string collapse_outside_quotes(std::string_view s) {
  std::string out;
  bool quoted = false, space = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (!quoted && (ch == ' ' || ch == '\t')) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    if (ch == '\\' && i + 1 < s.size()) {
      // Postfix stores \user as user outside quotes; keep it within them.
      if (quoted) out.push_back(ch);
      out.push_back(s[++i]);
      continue;
    }
    out.push_back(ch);
    if (ch == '"') quoted = !quoted;
  }
  return out;
}

std::string unquote(std::string_view s) {
  std::string out;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (ch == '\\' && i + 1 < s.size()) {
      out.push_back(s[++i]);
    } else if (ch == '"') {
      quoted = !quoted;
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace

std::string normalize_alias_value(std::string_view value) {
  std::vector<std::string> items;
  for (;;) {
    size_t comma = find_top_level(value, ',');
    std::string_view item = trim(value.substr(0, comma));
    if (!item.empty()) items.push_back(collapse_outside_quotes(item));
    if (comma == std::string_view::npos) break;
    value = value.substr(comma + 1);
  }
  return join(items, ", ");
}

Result<AliasEntry> parse_alias_line(std::string_view line) {
  size_t colon = find_top_level(line, ':');
  if (colon == std::string_view::npos) return fail(Errc::kInvalid, "need name:value pair");
  std::string_view raw_name = trim(line.substr(0, colon));
  AliasEntry entry;
  entry.value = normalize_alias_value(line.substr(colon + 1));
  if (raw_name.empty() || entry.value.empty()) return fail(Errc::kInvalid, "need name:value pair");
  if (find_top_level(raw_name, '@') != std::string_view::npos)
    return fail(Errc::kInvalid, "name must be local");
  entry.name = unquote(raw_name);
  return entry;
}

}  // namespace postern::maps
