#include "util/strings.h"

#include <cctype>
#include <charconv>

namespace postern {

std::vector<std::string_view> split(std::string_view s, std::string_view separators) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = s.find_first_not_of(separators, pos);
    if (start == std::string_view::npos) break;
    size_t end = s.find_first_of(separators, start);
    if (end == std::string_view::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    pos = end;
  }
  return out;
}

std::vector<std::string> split_braced(std::string_view s, std::string_view separators) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = s.find_first_not_of(separators, pos);
    if (start == std::string_view::npos) break;
    if (s[start] == '{') {
      int depth = 0;
      size_t i = start;
      for (; i < s.size(); ++i) {
        if (s[i] == '{') ++depth;
        if (s[i] == '}' && --depth == 0) break;
      }
      size_t inner_end = i < s.size() ? i : s.size();
      out.emplace_back(trim(s.substr(start + 1, inner_end - start - 1)));
      pos = i < s.size() ? i + 1 : s.size();
      continue;
    }
    size_t end = s.find_first_of(separators, start);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(start, end - start));
    pos = end;
  }
  return out;
}

std::vector<std::string> split_keeping_braces(std::string_view s, std::string_view separators) {
  std::vector<std::string> out;
  std::string token;
  int depth = 0;
  for (char c : s) {
    if (depth == 0 && separators.find(c) != std::string_view::npos) {
      if (!token.empty()) out.push_back(std::move(token));
      token.clear();
      continue;
    }
    if (c == '{') ++depth;
    if (c == '}' && depth > 0) --depth;
    token += c;
  }
  if (!token.empty()) out.push_back(std::move(token));
  return out;
}

std::string_view trim_left(std::string_view s, std::string_view chars) {
  size_t start = s.find_first_not_of(chars);
  return start == std::string_view::npos ? std::string_view() : s.substr(start);
}

std::string_view trim_right(std::string_view s, std::string_view chars) {
  size_t end = s.find_last_not_of(chars);
  return end == std::string_view::npos ? std::string_view() : s.substr(0, end + 1);
}

std::string_view trim(std::string_view s, std::string_view chars) {
  return trim_right(trim_left(s, chars), chars);
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string uppercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

std::string collapse_whitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (char c : trim(s)) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      pending_space = true;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

std::optional<long long> parse_long(std::string_view s) {
  if (s.empty()) return std::nullopt;
  long long value = 0;
  const char* begin = s.data();
  if (*begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || begin == s.data() + s.size())
    return std::nullopt;
  return value;
}

std::optional<unsigned long long> parse_ulong(std::string_view s) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return std::nullopt;
  unsigned long long value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::string printable(std::string_view s, char replacement) {
  std::string out(s);
  for (char& c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = replacement;
  }
  return out;
}

template <class Piece>
static std::string join_pieces(const std::vector<Piece>& pieces, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i) out += sep;
    out += pieces[i];
  }
  return out;
}

std::string join(const std::vector<std::string>& pieces, std::string_view sep) {
  return join_pieces(pieces, sep);
}

std::string join(const std::vector<std::string_view>& pieces, std::string_view sep) {
  return join_pieces(pieces, sep);
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

std::string hex_lower(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

}  // namespace postern
