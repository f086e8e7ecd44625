#include "global/dsn.h"

#include <cctype>
#include <fmt/format.h>

#include "util/strings.h"

namespace postern {

std::optional<int> parse_dsn_notify(std::string_view text) {
  int mask = 0;
  for (auto word : split(text, ",")) {
    if (iequals(word, "NEVER")) mask |= kDsnNotifyNever;
    else if (iequals(word, "SUCCESS")) mask |= kDsnNotifySuccess;
    else if (iequals(word, "DELAY")) mask |= kDsnNotifyDelay;
    else if (iequals(word, "FAILURE")) mask |= kDsnNotifyFailure;
    else return std::nullopt;
  }
  if (mask == 0 || ((mask & kDsnNotifyNever) && mask != kDsnNotifyNever)) return std::nullopt;
  return mask;
}

std::string format_dsn_notify(int mask) {
  std::string out;
  auto add = [&](int bit, const char* name) {
    if (!(mask & bit)) return;
    if (!out.empty()) out += ',';
    out += name;
  };
  add(kDsnNotifyNever, "NEVER");
  add(kDsnNotifySuccess, "SUCCESS");
  add(kDsnNotifyDelay, "DELAY");
  add(kDsnNotifyFailure, "FAILURE");
  return out;
}

std::optional<int> parse_dsn_ret(std::string_view text) {
  if (iequals(text, "FULL")) return kDsnRetFull;
  if (iequals(text, "HDRS")) return kDsnRetHdrs;
  return std::nullopt;
}

static size_t digits(std::string_view s, size_t pos, size_t max) {
  size_t n = 0;
  while (pos + n < s.size() && n < max && std::isdigit(static_cast<unsigned char>(s[pos + n]))) ++n;
  return n;
}

// Length of a valid status code at the start of s, or 0.
static size_t status_length(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return 0;
  size_t y = digits(s, 2, 3);
  if (y == 0 || 2 + y >= s.size() || s[2 + y] != '.') return 0;
  size_t z = digits(s, 3 + y, 3);
  if (z == 0) return 0;
  return 3 + y + z;
}

bool valid_dsn_status(std::string_view status) {
  return status_length(status) == status.size() && !status.empty();
}

std::optional<std::string> leading_dsn_status(std::string_view text) {
  size_t n = status_length(text);
  if (n == 0 || (n < text.size() && !std::isspace(static_cast<unsigned char>(text[n]))))
    return std::nullopt;
  return std::string(text.substr(0, n));
}

std::string xtext_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 33 || c > 126 || c == '+' || c == '=')
      out += fmt::format("+{:02X}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

std::optional<std::string> xtext_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '+') {
      if (i + 2 >= text.size()) return std::nullopt;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        return -1;
      };
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return std::nullopt;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace postern
