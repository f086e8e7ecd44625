#include "trivial-rewrite/rewrite.h"

#include "global/config.h"

namespace postern {

RewriteSettings RewriteSettings::from_config(const Config& cfg) {
  RewriteSettings s;
  auto common = [&cfg](RewriteContext& c) {
    c.append_at_origin = cfg.get_bool("append_at_myorigin");
    c.append_dot_domain = cfg.get_bool("append_dot_mydomain");
    c.swap_bangpath = cfg.get_bool("swap_bangpath");
    c.percent_hack = cfg.get_bool("allow_percent_hack");
  };
  common(s.local);
  common(s.remote);
  s.local.origin = cfg.get("myorigin");
  s.local.domain = cfg.get("mydomain");
  s.remote.origin = cfg.get("remote_header_rewrite_domain");
  s.remote.domain = s.remote.origin;
  return s;
}

std::string rewrite_address(const RewriteContext& context, std::string_view address) {
  std::string addr(address);
  if (addr.empty()) return addr;
  if (addr == "@") return "";

  // A source route "@a,@b:user@domain" is dropped, as RFC 5321 allows.
  if (addr.front() == '@') {
    size_t colon = addr.find(':');
    if (colon != std::string::npos && colon + 1 < addr.size()) addr.erase(0, colon + 1);
  }

  size_t at = addr.rfind('@');
  if (at == std::string::npos) {
    size_t bang = addr.find('!');
    size_t percent = addr.rfind('%');
    if (context.swap_bangpath && bang != std::string::npos) {
      addr = addr.substr(bang + 1) + "@" + addr.substr(0, bang);
    } else if (context.percent_hack && percent != std::string::npos) {
      addr[percent] = '@';
    } else if (context.append_at_origin && !context.origin.empty()) {
      addr += "@" + context.origin;
    }
    at = addr.rfind('@');
  }

  // Append .domain to a dotless domain, but leave "user@" and literals alone.
  if (context.append_dot_domain && !context.domain.empty() && at != std::string::npos &&
      at + 1 < addr.size()) {
    std::string_view domain = std::string_view(addr).substr(at + 1);
    if (domain.front() != '[' && domain.find('.') == std::string_view::npos)
      addr += "." + context.domain;
  }

  // Strip one trailing dot, but not from "..", "@." or a lone ".".
  if (addr.size() >= 2 && addr.back() == '.') {
    char before = addr[addr.size() - 2];
    if (before != '.' && before != '@') addr.pop_back();
  }
  return addr;
}

}  // namespace postern
