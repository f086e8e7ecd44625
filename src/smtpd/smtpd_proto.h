// SMTP command parsing for smtpd: splitting a command line into verb and
// arguments, extracting the address of MAIL FROM/RCPT TO/VRFY, and the
// ESMTP parameters that follow it. Pure functions: no I/O, no state, so the
// fuzzer and the unit tests can drive them directly.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtpd {

struct Command {
  std::string verb;  // upper-cased first word
  std::string args;  // the rest, leading white space removed, trailing kept trimmed
};
// Splits one command line (without CRLF).
Command split_command(std::string_view line);

// The address part of "FROM:<addr> params" or "TO:<addr> params".
struct PathArg {
  std::string address;               // internal form (quotes removed, source route dropped)
  std::string external;              // as the client wrote it inside <>
  bool bracketed = false;            // the client used <...>
  std::vector<std::string> params;   // "NAME=value" or "NAME"
  bool bad_syntax = false;           // the address is not a valid mailbox
};
// `text` starts right after the colon. nullopt when no address at all
// (empty text); bad_syntax when something is there but is not an address.
// With `strict` (strict_rfc821_envelopes) the <> are required.
std::optional<PathArg> parse_path(std::string_view text, bool strict);

// True when `address` (internal form) is acceptable as a mailbox: no
// unquoted white space or control characters, no <>, balanced quotes.
bool valid_mailbox(std::string_view external);

// "NAME=value" split; NAME upper-cased.
std::pair<std::string, std::string> split_param(std::string_view param);

// DSN: NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY; 0 when bad.
// Bits as Postfix's dsn_notify: NEVER=1 SUCCESS=2 FAILURE=4 DELAY=8.
int parse_notify(std::string_view value);
// xtext (RFC 3461) decoding; nullopt when malformed.
std::optional<std::string> xtext_decode(std::string_view text);

}  // namespace postern::smtpd
