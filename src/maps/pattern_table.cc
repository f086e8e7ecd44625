// The regexp_table(5)/pcre_table(5) parser and matcher shared by
// regexp: and pcre: (see pattern_table.h).
#include "maps/pattern_table.h"

#include <cctype>

#include "maps/map_source.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::maps {

bool parse_replacement(std::string_view text, Replacement& out, std::string& warning,
                       std::string& line_warning, std::string_view out_of_range) {
  out = {};
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) out.pieces.push_back({std::move(literal), -1});
    literal.clear();
  };
  for (size_t i = 0; i < text.size();) {
    if (text[i] != '$') {
      literal.push_back(text[i++]);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      literal.push_back('$');
      i += 2;
      continue;
    }
    std::string_view name;
    size_t next;
    if (i + 1 < text.size() && (text[i + 1] == '{' || text[i + 1] == '(')) {
      char close = text[i + 1] == '{' ? '}' : ')';
      size_t end = text.find(close, i + 2);
      if (end == std::string_view::npos) {
        warning = "truncated macro reference: \"" + std::string(text) + "\"";
        return false;
      }
      name = text.substr(i + 2, end - i - 2);
      next = end + 1;
    } else {
      size_t end = i + 1;
      while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) ||
                                   text[end] == '_'))
        ++end;
      name = text.substr(i + 1, end - i - 1);
      next = end;
    }
    if (name.empty()) {
      warning = "empty macro name: \"" + std::string(text) + "\"";
      return false;
    }
    auto n = parse_ulong(name);
    if (!n || !std::isdigit(static_cast<unsigned char>(name[0])) || *n > 1000) {
      line_warning = "non-numeric replacement index \"" + std::string(name) + "\"";
      return false;
    }
    if (*n == 0) {
      line_warning = std::string(out_of_range) + " replacement index \"" + std::string(name) + "\"";
      return false;
    }
    flush();
    out.pieces.push_back({{}, int(*n)});
    out.max_group = std::max(out.max_group, int(*n));
    i = next;
  }
  flush();
  return true;
}

namespace {

struct Rule {
  enum Kind { kMatch, kIf, kEndif } kind = kMatch;
  int line = 0;
  bool negate = false;
  std::unique_ptr<Matcher> matcher;
  Replacement replacement;
  size_t endif_index = 0;  // for kIf: the index of the matching kEndif
};

class PatternTableMap final : public Map {
 public:
  PatternTableMap(const Flavour& flavour, const std::string& type, const std::string& name,
                  unsigned flags)
      : Map(type, name, flags), flavour_(flavour) {}

  bool is_pattern() const override { return true; }

  void load(const std::vector<SourceLine>& lines) {
    watch_file(name_);
    load_if_blocks(
        lines, rules_, [this](const SourceLine& l) { return parse_rule(l); },
        [this](int line, std::string_view text) { warn(line, text); },
        "ignoring ENDIF without matching IF");
  }


 protected:
  Result<std::string> do_lookup(std::string_view key) override {
    std::vector<std::pair<int, int>> groups;
    for (size_t i = 0; i < rules_.size(); ++i) {
      Rule& rule = rules_[i];
      if (rule.kind == Rule::kEndif) continue;
      bool want_groups = !rule.negate && rule.replacement.max_group >= 0;
      bool matched = rule.matcher->match(key, want_groups ? &groups : nullptr);
      if (rule.negate) matched = !matched;
      if (rule.kind == Rule::kIf) {
        if (!matched) i = rule.endif_index;
        continue;
      }
      if (!matched) continue;
      std::string result;
      for (const auto& piece : rule.replacement.pieces) {
        if (piece.group < 0) {
          result += piece.text;
        } else if (size_t(piece.group) < groups.size() && groups[piece.group].first >= 0) {
          auto [b, e] = groups[piece.group];
          result.append(key.substr(size_t(b), size_t(e - b)));
        }
      }
      return result;
    }
    return fail(Errc::kNotFound, "not found");
  }

 private:
  void warn(int line, std::string_view text) {
    log::warn("{} map {}, line {}: {}", flavour_.label, name_, line, text);
  }

  // Parses one logical line into a rule; nullopt (after a warning) when
  // the line is skipped.
  std::optional<Rule> parse_rule(const SourceLine& line) {
    std::string_view p = line.text;
    Rule rule;
    rule.line = line.number;
    auto is_word = [&](std::string_view word) {
      return p.size() >= word.size() && iequals(p.substr(0, word.size()), word) &&
             (p.size() == word.size() || !std::isalnum(static_cast<unsigned char>(p[word.size()])));
    };
    if (is_word("endif")) {
      rule.kind = Rule::kEndif;
      return rule;
    }
    if (is_word("if")) {
      rule.kind = Rule::kIf;
      p = trim_left(p.substr(2));
    }
    if (!p.empty() && p[0] == '!') {
      rule.negate = true;
      p = trim_left(p.substr(1));
    }
    if (p.empty()) {
      warn(line.number, "no regexp pattern: skipping this rule");
      return std::nullopt;
    }
    char delim = p[0];
    std::string pattern;
    size_t i = 1;
    for (; i < p.size() && p[i] != delim; ++i) {
      if (p[i] == '\\' && i + 1 < p.size()) {
        // An escaped delimiter stands for itself; other escapes go to the engine.
        if (p[i + 1] != delim) pattern.push_back('\\');
        pattern.push_back(p[++i]);
        continue;
      }
      pattern.push_back(p[i]);
    }
    if (i >= p.size()) {
      warn(line.number, fmt::format("no closing regexp delimiter \"{}\": {}", delim,
                                    flavour_.no_delimiter_tail));
      return std::nullopt;
    }
    p = p.substr(i + 1);
    size_t flags_end = p.find_first_of(" \t");
    std::string_view flags = p.substr(0, flags_end);
    std::string_view rest = flags_end == std::string_view::npos ? std::string_view{}
                                                                : trim(p.substr(flags_end));
    std::string replacement_text;
    if (rule.kind == Rule::kIf) {
      if (!rest.empty()) {
        warn(line.number, fmt::format("ignoring extra text after IF statement: \"{}\"", rest));
        warn(line.number, "do not prepend whitespace to statements between IF and ENDIF");
      }
    } else {
      if (rest.empty()) warn(line.number, "no replacement text: using empty string");
      std::string global, local;
      if (!parse_replacement(rest, rule.replacement, global, local, flavour_.out_of_range)) {
        if (!global.empty()) log::warn("{}", global);
        if (!local.empty()) warn(line.number, local);
        warn(line.number, "bad replacement syntax: skipping this rule");
        return std::nullopt;
      }
      if (rule.negate && rule.replacement.max_group >= 0) {
        warn(line.number, "$number found in negative match replacement text: skipping this rule");
        return std::nullopt;
      }
    }
    std::string error;
    rule.matcher = flavour_.compile(pattern, flags, rule.replacement.max_group >= 0, error);
    if (!rule.matcher) {
      warn(line.number, error);
      return std::nullopt;
    }
    if (rule.replacement.max_group > rule.matcher->group_count()) {
      warn(line.number, fmt::format("out of range replacement index \"{}\": skipping this rule",
                                    rule.replacement.max_group));
      return std::nullopt;
    }
    return rule;
  }

  const Flavour& flavour_;
  std::vector<Rule> rules_;
};

}  // namespace

Result<MapPtr> open_pattern_table(const Flavour& flavour, const std::string& type,
                                  const std::string& name, unsigned flags) {
  auto lines = read_logical_lines(name);
  if (!lines) return std::unexpected(lines.error());
  auto map = std::make_unique<PatternTableMap>(flavour, type, name, flags);
  map->load(*lines);
  return map;
}

}  // namespace postern::maps
