// Small string helpers with Postfix's conventions for lists and case.
#pragma once

#include <optional>
#include <concepts>
#include <string>
#include <string_view>
#include <vector>

namespace postern {

// Separators Postfix accepts between list elements in parameter values.
inline constexpr std::string_view kListSeparators = ", \t\r\n";
inline constexpr std::string_view kWhitespace = " \t\r\n";

// Splits on any of `separators`, dropping empty pieces (like mystrtok()).
std::vector<std::string_view> split(std::string_view s,
                                    std::string_view separators = kListSeparators);
// The same for a temporary std::string: the pieces are copied, since views
// into it would dangle (`for (auto x : split(cfg.get("name")))` destroys the
// string before the loop body runs).
template <class S>
  requires std::same_as<S, std::string>
std::vector<std::string> split(S&& s, std::string_view separators = kListSeparators) {
  std::vector<std::string> out;
  for (std::string_view piece : split(std::string_view(s), separators)) out.emplace_back(piece);
  return out;
}
// Splits a parameter value into elements, keeping `{ ... }` groups whole
// (the braces are removed and the inside trimmed), as Postfix does for
// restriction lists and master.cf arguments.
std::vector<std::string> split_braced(std::string_view s,
                                      std::string_view separators = kListSeparators);

// Splits like split(), but a `{...}` group inside or at the start of a token
// belongs to that token, braces and all ("inline:{a=b, c=d}" stays one
// element), as Postfix's mystrtokq() does for lookup-table lists.
std::vector<std::string> split_keeping_braces(std::string_view s,
                                              std::string_view separators = kListSeparators);

std::string_view trim(std::string_view s, std::string_view chars = kWhitespace);
std::string_view trim_left(std::string_view s, std::string_view chars = kWhitespace);
std::string_view trim_right(std::string_view s, std::string_view chars = kWhitespace);

std::string lowercase(std::string_view s);
std::string uppercase(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
bool iends_with(std::string_view s, std::string_view suffix);

// Collapses each run of white space to one space and trims both ends.
std::string collapse_whitespace(std::string_view s);

// Decimal parsing that rejects trailing junk, signs where not allowed, and overflow.
std::optional<long long> parse_long(std::string_view s);
std::optional<unsigned long long> parse_ulong(std::string_view s);

// Replaces control characters and non-ASCII bytes with '?' so a peer's
// input can be logged safely.
std::string printable(std::string_view s, char replacement = '?');

// Joins pieces with a separator.
std::string join(const std::vector<std::string>& pieces, std::string_view sep);
std::string join(const std::vector<std::string_view>& pieces, std::string_view sep);

// Quotes a string for logging the way Postfix does in diagnostics: "text".
std::string quoted(std::string_view s);

// Lower-case hexadecimal digits of each byte ("\x01\xab" -> "01ab").
std::string hex_lower(std::string_view bytes);

}  // namespace postern
