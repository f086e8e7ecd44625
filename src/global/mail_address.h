// Mail addresses in Postfix's two forms: internal (local part unquoted:
// "foo bar"@example.com is kept as `foo bar@example.com`) and external
// (RFC 5321/5322 quoting applied). Plus host name and address checks.
#pragma once

#include <string>
#include <string_view>

namespace postern {

struct SplitAddress {
  std::string local;   // before the last '@' (the whole address if none)
  std::string domain;  // after the last '@', empty if none
  bool has_at = false;
};
// Splits at the last '@' (quoted '@' in the local part stays local).
SplitAddress split_address(std::string_view internal);

// Quotes the local part when RFC 5322 requires it: "foo bar"@example.com.
std::string externalize_address(std::string_view internal);
// Removes the quoting of the local part: "foo bar"@x -> foo bar@x.
std::string internalize_address(std::string_view external);

// A syntactically valid host name: labels of letters, digits and hyphens
// (no leading/trailing hyphen, each 1..63), at most 255 in all; a single
// trailing dot is allowed. All-numeric names are not host names.
bool valid_hostname(std::string_view name);
// An IPv4 or IPv6 address in text form (no brackets).
bool valid_hostaddr(std::string_view addr);
// A host name or an address literal: [1.2.3.4] or [IPv6:...].
bool valid_mailhost(std::string_view text);
// True when the name contains a dot (not counting a trailing one).
bool is_fqdn(std::string_view name);

}  // namespace postern
