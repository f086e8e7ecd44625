#include "tls/tls_policy.h"

#include <openssl/ssl.h>

#include <array>

#include "global/config.h"
#include "util/strings.h"

namespace postern::tls {

namespace {

struct LevelName {
  std::string_view name;
  Level level;
};
constexpr std::array<LevelName, 8> kLevels{{
    {"none", Level::kNone},
    {"may", Level::kMay},
    {"encrypt", Level::kEncrypt},
    {"dane", Level::kDane},
    {"dane-only", Level::kDaneOnly},
    {"fingerprint", Level::kFingerprint},
    {"verify", Level::kVerify},
    {"secure", Level::kSecure},
}};

struct Proto {
  std::string_view name;
  int version;
  unsigned long long no_option;
};
// SSLv2 is known to the syntax but OpenSSL 3 cannot speak it.
constexpr std::array<Proto, 6> kProtocols{{
    {"SSLv2", 0x0200, 0},
    {"SSLv3", SSL3_VERSION, SSL_OP_NO_SSLv3},
    {"TLSv1", TLS1_VERSION, SSL_OP_NO_TLSv1},
    {"TLSv1.1", TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
    {"TLSv1.2", TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
    {"TLSv1.3", TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
}};

int protocol_index(std::string_view name) {
  for (size_t i = 0; i < kProtocols.size(); ++i)
    if (iequals(kProtocols[i].name, name)) return static_cast<int>(i);
  return -1;
}

Result<bool> bool_param(const Config& cfg, const std::string& name) {
  if (!cfg.is_known(name)) return false;
  return cfg.bool_value(name);
}

}  // namespace

Result<Level> parse_level(std::string_view text) {
  for (const auto& l : kLevels)
    if (iequals(l.name, trim(text))) return l.level;
  return fail(Errc::kInvalid, "invalid TLS security level: " + quoted(text));
}

std::string_view level_name(Level level) {
  for (const auto& l : kLevels)
    if (l.level == level) return l.name;
  return "?";
}

bool level_is_mandatory(Level level) { return level != Level::kNone && level != Level::kMay; }

Result<Level> server_level(const Config& cfg, std::string_view prefix) {
  std::string p(prefix);
  auto value = cfg.expand(p + "_tls_security_level");
  if (!value) return std::unexpected(value.error());
  if (!trim(*value).empty()) {
    auto level = parse_level(*value);
    if (!level)
      return fail(Errc::kInvalid, p + "_tls_security_level: " + level.error().text);
    switch (*level) {
      case Level::kNone:
      case Level::kMay:
      case Level::kEncrypt:
        return *level;
      default:
        return Level::kEncrypt;
    }
  }
  auto enforce = bool_param(cfg, p + "_enforce_tls");
  if (!enforce) return std::unexpected(enforce.error());
  if (*enforce) return Level::kEncrypt;
  auto use = bool_param(cfg, p + "_use_tls");
  if (!use) return std::unexpected(use.error());
  return *use ? Level::kMay : Level::kNone;
}

Result<Level> client_level(const Config& cfg, std::string_view prefix) {
  std::string p(prefix);
  auto value = cfg.expand(p + "_tls_security_level");
  if (!value) return std::unexpected(value.error());
  if (!trim(*value).empty()) {
    auto level = parse_level(*value);
    if (!level)
      return fail(Errc::kInvalid, p + "_tls_security_level: " + level.error().text);
    return *level;
  }
  auto enforce = bool_param(cfg, p + "_enforce_tls");
  if (!enforce) return std::unexpected(enforce.error());
  if (*enforce) {
    auto peername = bool_param(cfg, p + "_tls_enforce_peername");
    if (!peername) return std::unexpected(peername.error());
    return *peername ? Level::kVerify : Level::kEncrypt;
  }
  auto use = bool_param(cfg, p + "_use_tls");
  if (!use) return std::unexpected(use.error());
  return *use ? Level::kMay : Level::kNone;
}

Result<ProtocolRange> parse_protocols(std::string_view param, std::string_view value) {
  auto bad = [&](std::string_view why) {
    return fail(Errc::kInvalid, "Invalid TLS protocol list " + quoted(value) + " in " +
                                    std::string(param) + ": " + std::string(why));
  };
  const int n = static_cast<int>(kProtocols.size());
  int lo = 0, hi = n - 1;
  bool any_include = false;
  std::array<bool, kProtocols.size()> include{}, exclude{};
  for (auto token : split(value, ", \t\r\n:")) {
    std::string_view name = token;
    char op = 0;
    if (name.starts_with(">=") || name.starts_with("<=")) {
      op = name[0];
      name.remove_prefix(2);
    } else if (name.starts_with("!")) {
      op = '!';
      name.remove_prefix(1);
    }
    int i = protocol_index(name);
    if (i < 0) return bad("unknown protocol " + quoted(name));
    switch (op) {
      case '>': lo = std::max(lo, i); break;
      case '<': hi = std::min(hi, i); break;
      case '!': exclude[static_cast<size_t>(i)] = true; break;
      default:
        any_include = true;
        include[static_cast<size_t>(i)] = true;
    }
  }
  ProtocolRange r;
  int first = -1, last = -1;
  for (int i = 1; i < n; ++i) {  // SSLv2 (index 0) is never enabled
    auto u = static_cast<size_t>(i);
    bool on = i >= lo && i <= hi && !exclude[u] && (!any_include || include[u]);
    if (!on) continue;
    if (first < 0) first = i;
    last = i;
  }
  if (first < 0) return bad("no protocol left enabled");
  r.min_version = kProtocols[static_cast<size_t>(first)].version;
  r.max_version = kProtocols[static_cast<size_t>(last)].version;
  for (int i = first; i <= last; ++i) {
    auto u = static_cast<size_t>(i);
    bool on = i >= lo && i <= hi && !exclude[u] && (!any_include || include[u]);
    if (on)
      r.enabled.emplace_back(kProtocols[u].name);
    else
      r.disable_options |= kProtocols[u].no_option;
  }
  return r;
}

Result<std::string> cipher_list(const Config& cfg, std::string_view param, std::string_view grade,
                                const std::vector<std::string>& exclusions) {
  std::string g = lowercase(trim(grade));
  if (g != "high" && g != "medium" && g != "low" && g != "export" && g != "null")
    return fail(Errc::kInvalid, "invalid " + std::string(param) + " value " + quoted(grade) +
                                    ": expected high, medium, low, export or null");
  auto list = cfg.expand("tls_" + g + "_cipherlist");
  if (!list) return std::unexpected(list.error());
  std::string out(trim(*list));
  if (out.empty()) return fail(Errc::kInvalid, "empty tls_" + g + "_cipherlist");
  for (const auto& x : exclusions) out += ":!" + x;
  return out;
}

bool name_matches(std::string_view pattern, std::string_view cert_name,
                  bool wildcard_multiple_labels) {
  std::string p = lowercase(pattern), c = lowercase(cert_name);
  while (!p.empty() && p.back() == '.') p.pop_back();
  while (!c.empty() && c.back() == '.') c.pop_back();
  if (p.empty() || c.empty()) return false;
  if (p.front() == '.') {
    // Any sub-domain of the pattern; a wildcard certificate for a
    // sub-domain of it qualifies too.
    if (c.starts_with("*.")) c.erase(0, 1);
    return c.size() > p.size() && c.ends_with(p);
  }
  if (c == p) return true;
  if (c.starts_with("*.")) {
    std::string_view suffix = std::string_view(c).substr(1);  // ".example.com"
    if (p.size() <= suffix.size() || !std::string_view(p).ends_with(suffix)) return false;
    std::string_view head = std::string_view(p).substr(0, p.size() - suffix.size());
    return wildcard_multiple_labels || head.find('.') == std::string_view::npos;
  }
  return false;
}

std::vector<std::string> match_patterns(const std::vector<std::string>& strategies,
                                        std::string_view hostname, std::string_view nexthop) {
  std::vector<std::string> out;
  for (const auto& s : strategies) {
    if (iequals(s, "hostname")) {
      if (!hostname.empty()) out.emplace_back(hostname);
    } else if (iequals(s, "nexthop")) {
      if (!nexthop.empty()) out.emplace_back(nexthop);
    } else if (iequals(s, "dot-nexthop")) {
      if (!nexthop.empty()) out.push_back("." + std::string(nexthop));
    } else {
      out.push_back(s);
    }
  }
  return out;
}

std::string format_fingerprint(std::string_view digest) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < digest.size(); ++i) {
    if (i) out += ':';
    auto b = static_cast<unsigned char>(digest[i]);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool fingerprint_equal(std::string_view wanted, std::string_view fingerprint) {
  auto strip = [](std::string_view s) {
    std::string out;
    for (char ch : s)
      if (ch != ':') out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return out;
  };
  std::string w = strip(trim(wanted));
  return !w.empty() && w == strip(fingerprint);
}

}  // namespace postern::tls
