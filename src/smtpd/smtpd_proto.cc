#include "smtpd/smtpd_proto.h"

#include "global/mail_address.h"
#include "util/strings.h"

namespace postern::smtpd {

Command split_command(std::string_view line) {
  line = trim(line, " \t\r");
  size_t sp = line.find_first_of(" \t");
  Command c;
  c.verb = uppercase(line.substr(0, sp));
  if (sp != std::string_view::npos) c.args = std::string(trim(line.substr(sp), " \t"));
  return c;
}

bool valid_mailbox(std::string_view a) {
  bool in_quote = false;
  for (size_t i = 0; i < a.size(); i++) {
    unsigned char ch = static_cast<unsigned char>(a[i]);
    if (in_quote) {
      if (ch == '\\') {
        if (++i >= a.size()) return false;
      } else if (ch == '"') {
        in_quote = false;
      } else if (ch < 0x20 || ch == 0x7f) {
        return false;
      }
      continue;
    }
    if (ch == '"') {
      in_quote = true;
      continue;
    }
    if (ch <= ' ' || ch == 0x7f || ch == '<' || ch == '>' || ch == '(' || ch == ')' ||
        ch == ',' || ch == ';' || ch == '\\')
      return false;
  }
  return !in_quote;
}

namespace {

// Drops an RFC 5321 source route "@a,@b:" from the front of an address.
std::string_view drop_source_route(std::string_view a) {
  if (a.empty() || a[0] != '@') return a;
  size_t colon = a.find(':');
  if (colon == std::string_view::npos) return a;
  return a.substr(colon + 1);
}

}  // namespace

std::optional<PathArg> parse_path(std::string_view text, bool strict) {
  text = trim(text, " \t");
  if (text.empty()) return std::nullopt;
  PathArg p;
  std::string_view rest;
  if (text[0] == '<') {
    // Find the closing '>' outside quotes.
    bool in_quote = false;
    size_t end = std::string_view::npos;
    for (size_t i = 1; i < text.size(); i++) {
      char ch = text[i];
      if (in_quote && ch == '\\') {
        i++;
        continue;
      }
      if (ch == '"') in_quote = !in_quote;
      if (!in_quote && ch == '>') {
        end = i;
        break;
      }
    }
    if (end == std::string_view::npos) {
      p.bad_syntax = true;
      p.external = std::string(text.substr(1));
      return p;
    }
    p.bracketed = true;
    p.external = std::string(text.substr(1, end - 1));
    rest = text.substr(end + 1);
    if (!rest.empty() && rest[0] != ' ' && rest[0] != '\t') p.bad_syntax = true;
  } else {
    size_t sp = text.find_first_of(" \t");
    p.external = std::string(text.substr(0, sp));
    if (sp != std::string_view::npos) rest = text.substr(sp);
    if (strict) p.bad_syntax = true;
  }
  for (auto w : split(rest, " \t"))
    if (!w.empty()) p.params.emplace_back(w);
  std::string_view addr = drop_source_route(p.external);
  if (!valid_mailbox(addr)) p.bad_syntax = true;
  if (!p.bad_syntax) p.address = internalize_address(addr);
  return p;
}

std::pair<std::string, std::string> split_param(std::string_view param) {
  size_t eq = param.find('=');
  if (eq == std::string_view::npos) return {uppercase(param), ""};
  return {uppercase(param.substr(0, eq)), std::string(param.substr(eq + 1))};
}

int parse_notify(std::string_view value) {
  int bits = 0;
  for (auto w : split(value, ",")) {
    if (iequals(w, "NEVER")) bits |= 1;
    else if (iequals(w, "SUCCESS")) bits |= 2;
    else if (iequals(w, "FAILURE")) bits |= 4;
    else if (iequals(w, "DELAY")) bits |= 8;
    else return 0;
  }
  if ((bits & 1) && bits != 1) return 0;
  return bits;
}

std::optional<std::string> xtext_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); i++) {
    unsigned char ch = static_cast<unsigned char>(text[i]);
    if (ch < 33 || ch > 126 || ch == '=') return std::nullopt;
    if (ch == '+') {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(static_cast<char>(ch));
    }
  }
  return out;
}

}  // namespace postern::smtpd
