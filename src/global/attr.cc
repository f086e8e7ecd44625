#include "global/attr.h"

#include <fmt/format.h>

#include "util/strings.h"

namespace postern {

AttrList& AttrList::add(std::string_view name, std::string_view value) {
  items_.emplace_back(std::string(name), std::string(value));
  return *this;
}

AttrList& AttrList::add(std::string_view name, long long value) {
  return add(name, std::to_string(value));
}

std::optional<std::string_view> AttrList::get(std::string_view name) const {
  for (const auto& [n, v] : items_)
    if (n == name) return std::string_view(v);
  return std::nullopt;
}

std::string_view AttrList::str(std::string_view name) const { return get(name).value_or(""); }

Result<long long> AttrList::number(std::string_view name) const {
  auto v = get(name);
  if (!v) return fail(Errc::kInvalid, fmt::format("missing attribute: {}", name));
  auto n = parse_long(*v);
  if (!n) return fail(Errc::kInvalid, fmt::format("bad numerical attribute: {}={}", name, *v));
  return *n;
}

long long AttrList::number_or(std::string_view name, long long fallback) const {
  return number(name).value_or(fallback);
}

std::string attr_encode(AttrEncoding enc, const AttrList& list) {
  std::string out;
  for (const auto& [n, v] : list.items()) {
    out += n;
    if (enc == AttrEncoding::kNul) {
      out += '\0';
      out += v;
      out += '\0';
    } else {
      out += '=';
      // A plain value cannot hold a newline; it would end the attribute.
      for (char c : v) out += c == '\n' ? ' ' : c;
      out += '\n';
    }
  }
  out += enc == AttrEncoding::kNul ? '\0' : '\n';
  return out;
}

void attr_write(Stream& out, AttrEncoding enc, const AttrList& list) {
  out.write(attr_encode(enc, list));
}

namespace {

// Reads one NUL-terminated token within the limit.
Result<std::string> read_token(Stream& in, size_t limit) {
  bool complete = false;
  auto token = in.read_until('\0', limit, &complete);
  if (!token) return token;
  if (!complete) {
    if (token->size() >= limit) return fail(Errc::kTooLarge, "attribute too long");
    return fail(Errc::kEof, "premature end of attribute list");
  }
  return token;
}

}  // namespace

Result<AttrList> attr_read(Stream& in, AttrEncoding enc, const AttrLimits& limits) {
  AttrList list;
  bool first = true;
  for (;;) {
    if (enc == AttrEncoding::kNul) {
      auto name = read_token(in, limits.max_length);
      if (!name) {
        if (!first && name.error().code == Errc::kEof)
          return fail(Errc::kEof, "premature end of attribute list");
        return std::unexpected(name.error());
      }
      if (name->empty()) return list;
      auto value = read_token(in, limits.max_length);
      if (!value) {
        if (value.error().code == Errc::kEof)
          return fail(Errc::kEof, "premature end of attribute list");
        return std::unexpected(value.error());
      }
      list.add(*name, *value);
    } else {
      bool complete = false;
      auto line = in.read_line(limits.max_length, &complete);
      if (!line) {
        if (!first && line.error().code == Errc::kEof)
          return fail(Errc::kEof, "premature end of attribute list");
        return std::unexpected(line.error());
      }
      if (!complete) return fail(Errc::kTooLarge, "attribute too long or unterminated");
      if (line->empty()) return list;
      size_t eq = line->find('=');
      if (eq == std::string::npos || eq == 0)
        return fail(Errc::kInvalid, fmt::format("malformed attribute: {}", printable(*line)));
      list.add(std::string_view(*line).substr(0, eq), std::string_view(*line).substr(eq + 1));
    }
    first = false;
    if (list.size() > limits.max_attrs) return fail(Errc::kTooLarge, "too many attributes");
  }
}

Result<AttrList> attr_decode(std::string_view data, AttrEncoding enc, size_t* used,
                             const AttrLimits& limits) {
  AttrList list;
  size_t pos = 0;
  char sep = enc == AttrEncoding::kNul ? '\0' : '\n';
  for (;;) {
    size_t end = data.find(sep, pos);
    if (end == std::string_view::npos) return fail(Errc::kEof, "premature end of attribute list");
    std::string_view token = data.substr(pos, end - pos);
    pos = end + 1;
    if (token.empty()) break;
    if (token.size() > limits.max_length) return fail(Errc::kTooLarge, "attribute too long");
    if (enc == AttrEncoding::kNul) {
      size_t vend = data.find('\0', pos);
      if (vend == std::string_view::npos)
        return fail(Errc::kEof, "premature end of attribute list");
      if (vend - pos > limits.max_length) return fail(Errc::kTooLarge, "attribute too long");
      list.add(token, data.substr(pos, vend - pos));
      pos = vend + 1;
    } else {
      size_t eq = token.find('=');
      if (eq == std::string_view::npos || eq == 0)
        return fail(Errc::kInvalid, fmt::format("malformed attribute: {}", printable(token)));
      list.add(token.substr(0, eq), token.substr(eq + 1));
    }
    if (list.size() > limits.max_attrs) return fail(Errc::kTooLarge, "too many attributes");
  }
  if (used) *used = pos;
  return list;
}

Result<AttrList> attr_request(Stream& s, AttrEncoding enc, const AttrList& request) {
  attr_write(s, enc, request);
  if (auto f = s.flush(); !f) return std::unexpected(f.error());
  return attr_read(s, enc);
}

Status attr_expect_protocol(Stream& s, AttrEncoding enc, std::string_view protocol) {
  auto hello = attr_read(s, enc);
  if (!hello) return std::unexpected(hello.error());
  if (hello->str("protocol") != protocol)
    return fail(Errc::kInvalid, fmt::format("unexpected protocol: \"{}\" (expected \"{}\")",
                                            hello->str("protocol"), protocol));
  return {};
}

}  // namespace postern
