#include "cleanup/actions.h"

#include <cctype>

#include "util/strings.h"

namespace postern::cleanup {

namespace {

bool is_dsn_code(std::string_view s) {
  // d.ddd.ddd with class 4 or 5.
  if (s.size() < 5 || (s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  int dots = 0;
  for (char c : s.substr(1)) {
    if (c == '.') ++dots;
    else if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return dots == 2 && s.back() != '.';
}

}  // namespace

std::optional<Action> parse_action(std::string_view value, std::string* error) {
  value = trim(value);
  size_t sp = value.find_first_of(" \t");
  std::string word = uppercase(value.substr(0, sp));
  std::string rest(sp == std::string_view::npos ? std::string_view{} : trim(value.substr(sp)));
  static constexpr struct {
    std::string_view name;
    ActionKind kind;
    bool needs_text;
  } kTable[] = {
      {"DUNNO", ActionKind::kDunno, false},     {"OK", ActionKind::kDunno, false},
      {"REJECT", ActionKind::kReject, false},   {"WARN", ActionKind::kWarn, false},
      {"INFO", ActionKind::kInfo, false},       {"HOLD", ActionKind::kHold, false},
      {"DISCARD", ActionKind::kDiscard, false}, {"IGNORE", ActionKind::kIgnore, false},
      {"PREPEND", ActionKind::kPrepend, true},  {"REPLACE", ActionKind::kReplace, true},
      {"REDIRECT", ActionKind::kRedirect, true}, {"FILTER", ActionKind::kFilter, true},
      {"BCC", ActionKind::kBcc, true},
  };
  for (const auto& e : kTable) {
    if (word != e.name) continue;
    if (e.needs_text && rest.empty()) {
      if (error) *error = "missing argument for action " + word;
      return std::nullopt;
    }
    if (e.kind == ActionKind::kFilter && rest.find(':') == std::string::npos) {
      if (error) *error = "bad FILTER action: \"" + rest + "\": need transport:destination";
      return std::nullopt;
    }
    return Action{e.kind, rest};
  }
  if (error) *error = "unknown action: \"" + std::string(value) + "\"";
  return std::nullopt;
}

std::string_view action_log_word(ActionKind kind) {
  switch (kind) {
    case ActionKind::kReject: return "reject";
    case ActionKind::kWarn: return "warning";
    case ActionKind::kInfo: return "info";
    case ActionKind::kHold: return "hold";
    case ActionKind::kDiscard: return "discard";
    case ActionKind::kIgnore: return "ignore";
    case ActionKind::kPrepend: return "prepend";
    case ActionKind::kReplace: return "replace";
    case ActionKind::kRedirect: return "redirect";
    case ActionKind::kFilter: return "filter";
    case ActionKind::kBcc: return "bcc";
    case ActionKind::kDunno: break;
  }
  return "dunno";
}

std::string reject_reason(std::string_view text) {
  text = trim(text);
  if (text.empty()) return "5.7.1 message content rejected";
  size_t sp = text.find(' ');
  if (is_dsn_code(text.substr(0, sp))) return std::string(text);
  return "5.7.1 " + std::string(text);
}

}  // namespace postern::cleanup
