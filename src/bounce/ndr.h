// Non-delivery notifications (RFC 3464 multipart/report) built from a
// bounce/ log and the returned message.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postern::bounce {

// One recipient record of a bounce/ or defer/ log.
struct LogRecord {
  std::string recipient, orig, dsn_orcpt, status, action, reason, dtype, dtext, mtype, mname;
  long offset = 0;
  int notify_flags = 0;  // DSN NOTIFY bits; 0 = not specified
};

// Whether a recipient asked (or did not refuse) a notification of this
// kind: kDsnNotifyFailure, kDsnNotifyDelay or kDsnNotifySuccess. Without
// NOTIFY, failures and delays are reported, successes are not.
bool wants_notice(const LogRecord& r, int kind);

// Parses a defer/bounce log: blocks of name=value lines separated by
// empty lines; lines without '=' are ignored.
std::vector<LogRecord> parse_status_log(std::string_view text);

struct NdrInfo {
  std::string myhostname;
  std::string mail_name = "Postfix";  // for the Received: header
  std::string queue_id;               // of the returned message
  std::string new_id;                 // of the notification (from cleanup)
  std::string sender;                 // of the returned message
  std::string to;                     // the notice's recipient ("" = sender)
  bool postmaster_copy = false;       // the postmaster's copy
  std::string arrival_date;           // RFC 2822 date of its arrival
  std::string date;                   // now, RFC 2822
  std::string boundary;               // "ID.time/myhostname"
  bool delay = false;                 // a delay warning, not a bounce
  bool success = false;               // a delivery report (NOTIFY=SUCCESS)
  std::string retry_until;            // delay warnings: Will-Retry-Until: date
  // From the bounce template (empty: the built-in wording).
  std::string charset = "us-ascii";
  std::string from;                   // From: header value
  std::string subject;                // Subject: (Postmaster-Subject: for copies)
  std::vector<std::string> text;      // expanded template text (not in copies)
  bool verify = false;                // with success: a sendmail -bv report
};

// The header and text parts of the notification, one line per element
// (no line ends), ending just before the returned message's own lines;
// `returned_message_trailer()` closes the MIME structure.
std::vector<std::string> ndr_head(const NdrInfo& info, const std::vector<LogRecord>& rcpts);
std::vector<std::string> ndr_tail(const NdrInfo& info);

}  // namespace postern::bounce
