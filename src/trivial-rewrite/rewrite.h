// Address rewriting to canonical form: what trivial-rewrite's "rewrite"
// request does. Works on internal (unquoted) addresses.
#pragma once

#include <string>
#include <string_view>

namespace postern {

class Config;

// The knobs one rewriting context uses. "local" takes myorigin/mydomain,
// "remote" takes remote_header_rewrite_domain for both (empty: append nothing).
struct RewriteContext {
  std::string origin;  // appended as @origin to an address without a domain
  std::string domain;  // appended as .domain to a domain without a dot
  bool append_at_origin = true;
  bool append_dot_domain = false;
  bool swap_bangpath = true;
  bool percent_hack = true;
};

struct RewriteSettings {
  RewriteContext local;
  RewriteContext remote;
  static RewriteSettings from_config(const Config& cfg);
};

// Canonical form of `address`: strips a source route (@a,@b:user@d), turns
// site!user into user@site and user%domain into user@domain when allowed,
// appends @origin and .domain as configured, and drops a trailing dot from
// the domain. The empty address stays empty.
std::string rewrite_address(const RewriteContext& context, std::string_view address);

}  // namespace postern
