#include "global/expand.h"

#include <cctype>
#include <fmt/format.h>

#include "util/strings.h"

namespace postern {
namespace {

constexpr int kMaxDepth = 100;

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::unexpected<Error> syntax_error(std::string text) {
  return fail(Errc::kInvalid, std::move(text));
}

// Position just after the bracket that closes the one at `open`, or npos.
size_t find_close(std::string_view s, size_t open) {
  char o = s[open];
  char c = o == '{' ? '}' : ')';
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == o) ++depth;
    else if (s[i] == c && --depth == 0) return i + 1;
  }
  return std::string_view::npos;
}

std::string context_at(std::string_view whole, size_t pos) {
  return fmt::format("\"...{}>>>{}\"", whole.substr(0, pos).substr(pos > 20 ? pos - 20 : 0),
                     whole.substr(pos));
}

class Expander {
 public:
  Expander(const ParamLookup& lookup, const ExpandOptions& options)
      : lookup_(lookup), options_(options) {}

  Result<std::string> expand(std::string_view text, int depth) {
    std::string out;
    size_t i = 0;
    while (i < text.size()) {
      char c = text[i];
      if (c != '$') {
        out += c;
        ++i;
        continue;
      }
      if (i + 1 >= text.size()) return syntax_error(fmt::format("empty macro name: \"{}\"", text));
      char next = text[i + 1];
      if (next == '$') {
        out += '$';
        i += 2;
      } else if (next == '{' || next == '(') {
        size_t end = find_close(text, i + 1);
        if (end == std::string_view::npos)
          return syntax_error(fmt::format("truncated macro reference: \"{}\"", text.substr(i)));
        std::string_view inner = text.substr(i + 2, end - i - 3);
        auto piece = next == '{' ? braced(inner, depth) : reference(trim(inner), depth);
        if (!piece) return piece;
        out += *piece;
        i = end;
      } else if (is_name_char(next)) {
        size_t j = i + 1;
        while (j < text.size() && is_name_char(text[j])) ++j;
        auto piece = reference(text.substr(i + 1, j - i - 1), depth);
        if (!piece) return piece;
        out += *piece;
        i = j;
      } else {
        return syntax_error(fmt::format("empty macro name: \"{}\"", text));
      }
    }
    return out;
  }

 private:
  // The value of `name`, expanded again when recursive.
  Result<std::string> reference(std::string_view name, int depth) {
    auto value = lookup_(name);
    if (!value) {
      if (options_.undefined) options_.undefined->emplace_back(name);
      return std::string();
    }
    if (!options_.recursive) return *value;
    if (depth >= kMaxDepth)
      return fail(Errc::kInvalid, fmt::format("unreasonable macro call nesting: \"{}\"", name));
    return expand(*value, depth + 1);
  }

  // Text inside "${...}": a name, a conditional, or a relational expression.
  Result<std::string> braced(std::string_view inner, int depth) {
    std::string_view s = trim_left(inner);
    if (!s.empty() && s.front() == '{') return relational(inner, depth);
    size_t n = 0;
    while (n < s.size() && is_name_char(s[n])) ++n;
    std::string_view name = s.substr(0, n);
    std::string_view rest = trim_left(s.substr(n));
    if (name.empty()) return syntax_error(fmt::format("empty macro name: \"${{{}}}\"", inner));
    if (rest.empty()) return reference(name, depth);
    if (rest.front() != '?' && rest.front() != ':')
      return syntax_error(fmt::format("attribute name syntax error at: {}",
                                      context_at(inner, inner.size() - rest.size())));
    bool want_set = rest.front() == '?';
    rest = trim_left(rest.substr(1));
    std::string_view when_true = rest, when_false;
    bool has_false = false;
    if (!rest.empty() && rest.front() == '{') {
      size_t end = find_close(rest, 0);
      if (end == std::string_view::npos)
        return syntax_error(fmt::format("truncated macro reference: \"${{{}}}\"", inner));
      when_true = rest.substr(1, end - 2);
      std::string_view tail = trim_left(rest.substr(end));
      if (!tail.empty()) {
        if (!want_set || tail.front() != ':')
          return syntax_error(fmt::format("unexpected input at: {}",
                                          context_at(inner, inner.size() - tail.size())));
        tail = trim_left(tail.substr(1));
        size_t fend = tail.empty() || tail.front() != '{' ? std::string_view::npos
                                                           : find_close(tail, 0);
        if (fend == std::string_view::npos || !trim(tail.substr(fend)).empty())
          return syntax_error(fmt::format("unexpected input at: {}",
                                          context_at(inner, inner.size() - tail.size())));
        when_false = tail.substr(1, fend - 2);
        has_false = true;
      }
    }
    auto value = lookup_(name);
    bool is_set = value && !value->empty();
    if (want_set) {
      if (is_set) return expand(when_true, depth + 1);
      return has_false ? expand(when_false, depth + 1) : std::string();
    }
    return is_set ? std::string() : expand(when_true, depth + 1);
  }

  // "{x} OP {y} ? {a} : {b}"
  Result<std::string> relational(std::string_view inner, int depth) {
    std::string_view s = trim_left(inner);
    auto take_group = [&](std::string_view& from) -> std::optional<std::string_view> {
      from = trim_left(from);
      if (from.empty() || from.front() != '{') return std::nullopt;
      size_t end = find_close(from, 0);
      if (end == std::string_view::npos) return std::nullopt;
      std::string_view g = from.substr(1, end - 2);
      from = from.substr(end);
      return g;
    };
    auto pos_of = [&](std::string_view rest) { return inner.size() - rest.size(); };
    auto left = take_group(s);
    if (!left) return syntax_error(fmt::format("truncated macro reference: \"${{{}}}\"", inner));
    s = trim_left(s);
    static const char* const kOps[] = {"==level", "!=level", "<=level", ">=level", "<level",
                                       ">level",  "==",      "!=",      "<=",      ">=",
                                       "<",       ">"};
    std::string_view op;
    for (const char* candidate : kOps) {
      if (s.starts_with(candidate)) {
        op = candidate;
        break;
      }
    }
    if (op.empty())
      return syntax_error(fmt::format(
          "\"==\" or \"!=\"\" or \"<\"\" or \"<=\"\" or \">=\"\" or \">\" expected at: {}",
          context_at(inner, pos_of(s))));
    s.remove_prefix(op.size());
    auto right = take_group(s);
    if (!right) return syntax_error(fmt::format("\"{{\" expected at: {}", context_at(inner, pos_of(s))));
    s = trim_left(s);
    if (s.empty() || s.front() != '?')
      return syntax_error(fmt::format("\"?\" expected at: {}", context_at(inner, pos_of(s))));
    s.remove_prefix(1);
    auto when_true = take_group(s);
    if (!when_true)
      return syntax_error(fmt::format("\"{{\" expected at: {}", context_at(inner, pos_of(s))));
    std::optional<std::string_view> when_false;
    s = trim_left(s);
    if (!s.empty()) {
      if (s.front() != ':')
        return syntax_error(fmt::format("\":\" expected at: {}", context_at(inner, pos_of(s))));
      s.remove_prefix(1);
      when_false = take_group(s);
      if (!when_false || !trim(s).empty())
        return syntax_error(fmt::format("unexpected input at: {}", context_at(inner, pos_of(s))));
    }
    auto a = expand(*left, depth + 1);
    if (!a) return a;
    auto b = expand(*right, depth + 1);
    if (!b) return b;
    auto truth = compare(*a, op, *b);
    if (!truth) return std::unexpected(truth.error());
    if (*truth) return expand(*when_true, depth + 1);
    return when_false ? expand(*when_false, depth + 1) : std::string();
  }

  static Result<bool> compare(const std::string& a, std::string_view op, const std::string& b) {
    int cmp = 0;
    if (op.ends_with("level")) {
      cmp = compare_compatibility_levels(a, b);
      op.remove_suffix(5);
    } else if (op == "==" || op == "!=") {
      cmp = a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
    } else {
      auto x = parse_long(a), y = parse_long(b);
      if (!x || !y)
        return fail(Errc::kInvalid, fmt::format("non-numeric operand in \"{} {} {}\"", a, op, b));
      cmp = *x < *y ? -1 : *x > *y ? 1 : 0;
    }
    if (op == "==") return cmp == 0;
    if (op == "!=") return cmp != 0;
    if (op == "<") return cmp < 0;
    if (op == "<=") return cmp <= 0;
    if (op == ">") return cmp > 0;
    return cmp >= 0;
  }

  const ParamLookup& lookup_;
  const ExpandOptions& options_;
};

}  // namespace

Result<std::string> expand_value(std::string_view text, const ParamLookup& lookup,
                                 const ExpandOptions& options) {
  Expander expander(lookup, options);
  return expander.expand(text, 0);
}

std::vector<std::string> referenced_names(std::string_view text) {
  std::vector<std::string> names;
  ParamLookup collect = [&](std::string_view name) -> std::optional<std::string> {
    names.emplace_back(name);
    return std::string("x");
  };
  // Visit both branches of conditionals: collect with "set" and "unset".
  ExpandOptions options;
  options.recursive = false;
  (void)expand_value(text, collect, options);
  ParamLookup collect_unset = [&](std::string_view name) -> std::optional<std::string> {
    names.emplace_back(name);
    return std::nullopt;
  };
  (void)expand_value(text, collect_unset, options);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

int compare_compatibility_levels(std::string_view a, std::string_view b) {
  auto parts = [](std::string_view s) {
    std::vector<long long> out;
    for (auto piece : split(s, ".")) out.push_back(parse_long(piece).value_or(0));
    while (out.size() < 3) out.push_back(0);
    return out;
  };
  auto x = parts(a), y = parts(b);
  for (size_t i = 0; i < 3; ++i) {
    if (x[i] < y[i]) return -1;
    if (x[i] > y[i]) return 1;
  }
  return 0;
}

}  // namespace postern
