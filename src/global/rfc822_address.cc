#include "global/rfc822_address.h"

#include "global/mail_address.h"
#include "util/strings.h"

namespace postern {
namespace {

enum class Tok { kAtom, kQuoted, kComment, kLiteral, kSpecial };

struct Token {
  Tok kind;
  size_t begin, end;  // span in the value, including delimiters
  char special = 0;
};

// Splits a header value into RFC 822 tokens (white space dropped).
std::vector<Token> tokenize(std::string_view v) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < v.size()) {
    char c = v[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
    } else if (c == '(') {
      size_t start = i;
      int depth = 0;
      for (; i < v.size(); ++i) {
        if (v[i] == '\\') {
          ++i;
          continue;
        }
        if (v[i] == '(') ++depth;
        if (v[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
      out.push_back({Tok::kComment, start, std::min(i, v.size())});
    } else if (c == '"') {
      size_t start = i++;
      for (; i < v.size(); ++i) {
        if (v[i] == '\\') {
          ++i;
          continue;
        }
        if (v[i] == '"') {
          ++i;
          break;
        }
      }
      out.push_back({Tok::kQuoted, start, std::min(i, v.size())});
    } else if (c == '[') {
      size_t start = i;
      while (i < v.size() && v[i] != ']') i += v[i] == '\\' ? 2 : 1;
      i = std::min(i + 1, v.size());
      out.push_back({Tok::kLiteral, start, i});
    } else if (std::string_view("<>@,;:.").find(c) != std::string_view::npos) {
      out.push_back({Tok::kSpecial, i, i + 1, c});
      ++i;
    } else {
      size_t start = i;
      while (i < v.size() && std::string_view(" \t\r\n()\"[<>@,;:.").find(v[i]) == std::string_view::npos)
        ++i;
      if (i == start) ++i;  // a stray ')' is a one-character atom, never a stall
      out.push_back({Tok::kAtom, start, i});
    }
  }
  return out;
}

// Internal form of an address made of tokens [first, last).
std::string address_text(std::string_view v, const std::vector<Token>& t, size_t first, size_t last) {
  std::string ext;
  for (size_t i = first; i < last; ++i) {
    if (t[i].kind == Tok::kComment) continue;
    ext.append(v.substr(t[i].begin, t[i].end - t[i].begin));
  }
  return internalize_address(ext);
}

bool is_special(const Token& t, char c) { return t.kind == Tok::kSpecial && t.special == c; }

}  // namespace

std::vector<HeaderAddress> parse_header_addresses(std::string_view v) {
  std::vector<HeaderAddress> out;
  auto t = tokenize(v);
  size_t i = 0;
  while (i < t.size()) {
    // One mailbox: up to a top-level ',' or ';' (a ':' starts a group).
    size_t start = i;
    size_t angle_open = t.size(), angle_close = t.size();
    for (; i < t.size(); ++i) {
      if (is_special(t[i], '<') && angle_open == t.size()) angle_open = i;
      else if (is_special(t[i], '>') && angle_open != t.size() && angle_close == t.size()) angle_close = i;
      else if (angle_open == t.size() && is_special(t[i], ':')) start = i + 1;  // group name
      else if ((angle_open == t.size() || angle_close != t.size()) &&
               (is_special(t[i], ',') || is_special(t[i], ';')))
        break;
    }
    size_t end = i;
    if (i < t.size()) ++i;  // skip the separator
    if (angle_open != t.size()) {
      size_t first = angle_open + 1;
      size_t last = angle_close == t.size() ? end : angle_close;
      // Drop a source route "@a,@b:" before the address.
      for (size_t k = first; k < last; ++k)
        if (is_special(t[k], ':')) first = k + 1;
      HeaderAddress a;
      a.angle = true;
      a.begin = first < last ? t[first].begin : t[angle_open].end;
      a.end = first < last ? t[last - 1].end : a.begin;
      a.address = address_text(v, t, first, last);
      out.push_back(std::move(a));
      continue;
    }
    // A bare addr-spec; skip leading/trailing comments.
    size_t first = start, last = end;
    while (first < last && t[first].kind == Tok::kComment) ++first;
    while (last > first && t[last - 1].kind == Tok::kComment) --last;
    if (first == last) continue;
    HeaderAddress a;
    a.begin = t[first].begin;
    a.end = t[last - 1].end;
    a.address = address_text(v, t, first, last);
    out.push_back(std::move(a));
  }
  return out;
}

std::string rewrite_header_addresses(
    std::string_view v, const std::function<std::string(const std::string&)>& rewrite) {
  std::string out;
  size_t pos = 0;
  for (const auto& a : parse_header_addresses(v)) {
    if (a.address.empty()) continue;
    std::string next = rewrite(a.address);
    if (next == a.address) continue;  // unchanged: keep the text as written
    out.append(v.substr(pos, a.begin - pos));
    out += externalize_address(next);
    pos = a.end;
  }
  out.append(v.substr(pos));
  return out;
}

}  // namespace postern
