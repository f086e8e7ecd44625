#include "global/mail_address.h"

#include <cctype>

#include "util/inet.h"
#include "util/strings.h"

namespace postern {
namespace {

// RFC 5322 atext plus '.', i.e. what a dot-atom local part may hold.
bool is_atext(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  if (static_cast<unsigned char>(c) >= 0x80) return true;  // SMTPUTF8
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool needs_quoting(std::string_view local) {
  if (local.empty()) return false;
  if (local.front() == '.' || local.back() == '.') return true;
  char prev = 0;
  for (char c : local) {
    if (c == '.') {
      if (prev == '.') return true;
    } else if (!is_atext(c)) {
      return true;
    }
    prev = c;
  }
  return false;
}

}  // namespace

SplitAddress split_address(std::string_view internal) {
  size_t at = internal.rfind('@');
  if (at == std::string_view::npos) return {std::string(internal), "", false};
  return {std::string(internal.substr(0, at)), std::string(internal.substr(at + 1)), true};
}

std::string externalize_address(std::string_view internal) {
  SplitAddress a = split_address(internal);
  std::string local = a.local;
  if (needs_quoting(local)) {
    std::string q = "\"";
    for (char c : local) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    q += '"';
    local = q;
  }
  return a.has_at ? local + "@" + a.domain : local;
}

std::string internalize_address(std::string_view external) {
  // Unquote quoted strings anywhere in the local part.
  std::string out;
  bool quoted = false;
  for (size_t i = 0; i < external.size(); ++i) {
    char c = external[i];
    if (quoted) {
      if (c == '\\' && i + 1 < external.size()) {
        out += external[++i];
      } else if (c == '"') {
        quoted = false;
      } else {
        out += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      continue;
    }
    out += c;
  }
  return out;
}

bool valid_hostname(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  if (name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return false;
  bool all_numeric = true;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t dot = name.find('.', pos);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view label = name.substr(pos, dot - pos);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
      if (!std::isdigit(static_cast<unsigned char>(c))) all_numeric = false;
    }
    pos = dot + 1;
  }
  return !all_numeric;
}

bool valid_hostaddr(std::string_view addr) { return IpAddress::parse(addr).has_value() && addr.front() != '['; }

bool valid_mailhost(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    std::string_view inner = text.substr(1, text.size() - 2);
    if (istarts_with(inner, "ipv6:")) {
      auto a = IpAddress::parse(inner.substr(5));
      return a && a->is_v6();
    }
    auto a = IpAddress::parse(inner);
    return a && a->is_v4();
  }
  return valid_hostname(text);
}

bool is_fqdn(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name.find('.') != std::string_view::npos;
}

}  // namespace postern
