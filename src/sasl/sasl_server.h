// SASL authentication for the SMTP server (smtpd), with two back ends
// chosen by smtpd_sasl_type: "cyrus" (libsasl2; smtpd_sasl_path is the
// application name, so <path>.conf is read from cyrus_sasl_config_path)
// and "dovecot" (Dovecot's authentication protocol over smtpd_sasl_path: a
// UNIX socket such as private/auth, or inet:host:port).
//
// One Backend per process; one Session per SMTP connection:
//   auto backend = sasl::ServerBackend::create(config());
//   auto session = (*backend)->open({client_addr, ..., tls_active});
//   (*session)->mechanisms()                  → for the EHLO "AUTH" line
//   (*session)->start("PLAIN", initial_b64)   → Continue / Success / Failure
//   (*session)->step(response_b64)            → ...
// Challenges and responses are base64 text exactly as on the SMTP wire.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace postern {
class Config;
}

namespace postern::sasl {

struct ServerReply {
  enum class Kind { kContinue, kSuccess, kFailure };
  Kind kind = Kind::kFailure;
  std::string challenge;  // kContinue: base64 for "334 <challenge>"
  std::string username;   // kSuccess; on kFailure when known (for sasl_username=)
  std::string reason;     // kFailure: for the reply and log ("authentication failure")
  bool temporary = false; // kFailure: 454 4.7.0 rather than 535 5.7.8
  bool malformed = false; // kFailure: the client's base64 was invalid (never sent on)

  bool ok() const { return kind == Kind::kSuccess; }
};

// smtpd_sasl_security_options / smtpd_sasl_tls_security_options.
struct SecurityOptions {
  bool noanonymous = false;
  bool noplaintext = false;
  bool noactive = false;
  bool nodictionary = false;
  bool mutual_auth = false;
  bool forward_secrecy = false;
};
// Parses "noanonymous, noplaintext"; unknown words are errors naming `param`.
Result<SecurityOptions> parse_security_options(std::string_view param, std::string_view value);

// A mechanism filter such as smtpd_sasl_mechanism_filter ("!external,
// static:rest") or smtp_sasl_mechanism_filter ("plain, login"): the first
// entry that matches decides; "!name" excludes, "static:rest"/"static:all"
// admits everything not decided earlier; with an empty filter all pass.
std::vector<std::string> filter_mechanisms(const std::vector<std::string>& mechs,
                                           std::string_view filter);

struct ConnectionInfo {
  std::string client_addr;  // "192.0.2.1"
  int client_port = 0;
  std::string local_addr;
  int local_port = 0;
  bool tls_active = false;
  bool tls_client_cert_verified = false;
};

class Session {
 public:
  virtual ~Session() = default;
  // Mechanisms to announce, after security options and the filter.
  virtual std::vector<std::string> mechanisms() const = 0;
  // AUTH <mech> [initial]: `initial` is the base64 text after the mechanism
  // ("=" stands for an empty response), nullopt when there is none.
  virtual ServerReply start(std::string_view mech, std::optional<std::string_view> initial) = 0;
  // The client's base64 answer to the last challenge.
  virtual ServerReply step(std::string_view response) = 0;
};

class ServerBackend {
 public:
  virtual ~ServerBackend() = default;
  // Reads smtpd_sasl_type, smtpd_sasl_path, the security options and the
  // mechanism filter (prefix "smtpd"). Unknown types are errors.
  static Result<std::unique_ptr<ServerBackend>> create(const Config& cfg,
                                                       std::string_view prefix = "smtpd");
  // A session for one connection; fails with kTemporary when the
  // authentication service cannot be reached.
  virtual Result<std::unique_ptr<Session>> open(const ConnectionInfo& conn) = 0;
  virtual std::string_view type() const = 0;
};

// Server SASL types compiled in (postconf -a).
std::vector<std::string> server_types();

// The SMTP reply for a step, in Debian's Postfix's words:
//   "235 2.7.0 Authentication successful", "334 <challenge>",
//   "454 4.7.0 Temporary authentication failure: <reason>",
//   "535 5.7.8 Error: authentication failed: <reason>".
// Malformed base64 is a 535 too, with the back end's reason ("Invalid base64
// data in initial response" from Dovecot, "bad protocol / cancel" from
// Cyrus), as Postfix answers. The caller's own replies, for reference:
// "501 5.7.0 Authentication aborted" ("*"), "501 5.5.4 Syntax: AUTH
// mechanism", "503 5.5.1 Error: already authenticated".
std::string smtp_reply(const ServerReply& reply);

}  // namespace postern::sasl
