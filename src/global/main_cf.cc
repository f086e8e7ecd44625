#include "global/main_cf.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "util/strings.h"

namespace postern {
namespace {

bool is_blank_or_comment(std::string_view line) {
  std::string_view t = trim_left(line);
  return t.empty() || t.front() == '#';
}

bool starts_with_space(std::string_view line) {
  return !line.empty() && (line.front() == ' ' || line.front() == '\t');
}

// Physical lines without their newlines; a final line without "\n" counts.
std::vector<std::string_view> physical_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

// The parameter name a logical line defines (text before white space or '=').
std::string_view leading_name(std::string_view line) {
  size_t end = line.find_first_of(" \t=");
  return line.substr(0, end == std::string_view::npos ? line.size() : end);
}

}  // namespace

std::vector<LogicalLine> read_logical_lines(std::string_view text) {
  std::vector<LogicalLine> out;
  auto lines = physical_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_blank_or_comment(line)) continue;
    if (starts_with_space(line) && !out.empty()) {
      out.back().text += line;
      continue;
    }
    out.push_back({std::string(trim_left(line)), static_cast<int>(i + 1)});
  }
  for (auto& l : out) l.text = std::string(trim_right(l.text));
  return out;
}

Result<std::pair<std::string, std::string>> split_name_value(std::string_view text) {
  std::string_view t = trim_left(text);
  size_t end = t.find_first_of(" \t=");
  std::string_view name = t.substr(0, end == std::string_view::npos ? t.size() : end);
  if (name.empty()) return fail(Errc::kInvalid, "missing attribute name");
  std::string_view rest = trim_left(t.substr(name.size()));
  if (rest.empty() || rest.front() != '=')
    return fail(Errc::kInvalid, fmt::format("missing '=' after attribute name: \"{}\"", name));
  rest = trim(rest.substr(1));
  return std::pair{std::string(name), std::string(rest)};
}

Result<std::vector<MainCfEntry>> parse_main_cf(std::string_view text, std::string_view path) {
  std::vector<MainCfEntry> entries;
  for (const LogicalLine& l : read_logical_lines(text)) {
    auto nv = split_name_value(l.text);
    if (!nv) return fail(Errc::kInvalid, fmt::format("{}, line {}: {}", path, l.line, nv.error().text));
    entries.push_back({std::move(nv->first), std::move(nv->second), l.line});
  }
  return entries;
}

std::string edit_main_cf(std::string_view text, const MainCfEdit& edit) {
  std::string out;
  std::map<std::string, bool> seen;
  bool in_match = false;
  for (std::string_view line : physical_lines(text)) {
    if (is_blank_or_comment(line)) {
      out += line;
      out += '\n';
      continue;
    }
    if (starts_with_space(line)) {
      if (!in_match) {
        out += line;
        out += '\n';
      } else if (edit.action == MainCfEdit::Action::kCommentOut) {
        out += '#';
        out += line;
        out += '\n';
      }
      continue;
    }
    std::string name(leading_name(line));
    auto it = std::find_if(edit.values.begin(), edit.values.end(),
                           [&](const auto& nv) { return nv.first == name; });
    in_match = it != edit.values.end();
    if (!in_match) {
      out += line;
      out += '\n';
      continue;
    }
    switch (edit.action) {
      case MainCfEdit::Action::kSet:
        if (!seen[name]) out += fmt::format("{} = {}\n", name, it->second);
        break;
      case MainCfEdit::Action::kCommentOut:
        out += '#';
        out += line;
        out += '\n';
        break;
      case MainCfEdit::Action::kRemove:
        break;
    }
    seen[name] = true;
  }
  if (edit.action == MainCfEdit::Action::kSet) {
    for (const auto& [name, value] : edit.values)
      if (!seen[name]) out += fmt::format("{} = {}\n", name, value);
  }
  return out;
}

}  // namespace postern
