// TLS policy pieces that are pure text processing: security levels,
// Postfix's protocol-list syntax, cipher grades, certificate name matching
// and fingerprint formatting. No OpenSSL objects here, so these are easy to
// test and reuse (smtpd, smtp, posttls-finger-like tools).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace postern {
class Config;
}

namespace postern::tls {

enum class Level { kNone, kMay, kEncrypt, kDane, kDaneOnly, kFingerprint, kVerify, kSecure };

// Parses "none", "may", "encrypt", "dane", "dane-only", "fingerprint",
// "verify", "secure" (case-insensitive).
Result<Level> parse_level(std::string_view text);
std::string_view level_name(Level level);
// True for the levels that refuse to continue without TLS.
bool level_is_mandatory(Level level);

// smtpd_tls_security_level, or the legacy smtpd_use_tls/smtpd_enforce_tls
// when it is empty. Server levels beyond "encrypt" are treated as encrypt.
Result<Level> server_level(const Config& cfg, std::string_view prefix = "smtpd");
// smtp_tls_security_level (or lmtp_), or the legacy smtp_use_tls /
// smtp_enforce_tls / smtp_tls_enforce_peername when it is empty.
Result<Level> client_level(const Config& cfg, std::string_view prefix = "smtp");

// Protocol versions as OpenSSL numbers (TLS1_2_VERSION, ...).
struct ProtocolRange {
  int min_version = 0;  // lowest enabled version
  int max_version = 0;  // highest enabled version
  // Versions inside [min, max] that are disabled (holes), as
  // OpenSSL SSL_OP_NO_* option bits.
  unsigned long long disable_options = 0;
  std::vector<std::string> enabled;  // names, lowest first ("TLSv1.2", "TLSv1.3")
};

// Parses a Postfix protocol list: ">=TLSv1.2", "<=TLSv1.3", "!SSLv2, !SSLv3",
// or a list of protocols to allow ("TLSv1.2 TLSv1.3"); separators are
// comma, colon and white space. Unknown names and lists that leave nothing
// enabled are errors naming `param`.
Result<ProtocolRange> parse_protocols(std::string_view param, std::string_view value);

// The OpenSSL cipher string for a Postfix grade ("high", "medium", "low",
// "export", "null") from the tls_<grade>_cipherlist parameters, followed by
// ":!X" for each element of `exclusions`.
Result<std::string> cipher_list(const Config& cfg, std::string_view param, std::string_view grade,
                                const std::vector<std::string>& exclusions);

// Certificate name matching. `pattern` is a name from
// smtp_tls_*_cert_match after substitution ("hostname" → the server's name,
// "nexthop" → the next-hop domain, "dot-nexthop" → "." + next-hop domain);
// a pattern starting with "." matches any sub-domain. `cert_name` is a DNS
// subjectAltName (or the CN when there is none) and may start with "*.".
bool name_matches(std::string_view pattern, std::string_view cert_name,
                  bool wildcard_multiple_labels = true);

// Expands a *_cert_match list into the patterns to try.
std::vector<std::string> match_patterns(const std::vector<std::string>& strategies,
                                        std::string_view hostname, std::string_view nexthop);

// "AB:CD:..." from raw digest bytes.
std::string format_fingerprint(std::string_view digest);
// True when `wanted` (with or without colons, any case) equals `fingerprint`.
bool fingerprint_equal(std::string_view wanted, std::string_view fingerprint);

}  // namespace postern::tls
