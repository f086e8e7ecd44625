// Local submission: the records of a maildrop file (sendmail builds them,
// postdrop writes them into maildrop/, pickup reads them back) and the
// hand-over of such a message to cleanup.
//
// A maildrop file is T, A rewrite_context=local, then what sendmail sent:
// envelope records of types "MFSRVAin" (ending with M), content records
// "XLN" (ending with X), extracted records "EAR" (ending with E). There is
// no C record and no O record (cleanup adds them).
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "global/cleanup_client.h"
#include "global/record.h"
#include "util/error.h"

namespace postern::submit {

inline constexpr std::string_view kEnvelopeTypes = "MFSRVAin";
inline constexpr std::string_view kContentTypes = "XLN";
inline constexpr std::string_view kExtractedTypes = "EAR";

// Checks record order and types as postdrop does. accept() fails with a
// text naming the bad record ("unexpected record type 67 in envelope").
class MaildropValidator {
 public:
  // `with_time`: the sequence starts with T (a maildrop file); without it
  // (what sendmail hands to postdrop) T is not allowed.
  explicit MaildropValidator(bool with_time) : want_time_(with_time) {}
  Status accept(int type);
  bool done() const { return segment_ == 3; }
  bool seen_sender() const { return sender_; }

 private:
  bool want_time_;
  int segment_ = 0;  // 0 envelope, 1 content, 2 extracted, 3 done
  bool sender_ = false;
};

// A message as sendmail collected it.
struct Submission {
  std::string fullname;                    // F (omitted when empty)
  std::string sender;                      // S
  std::string envelope_id;                 // A envelope_id= (-V)
  int notify_flags = 0;                    // A notify_flags= (-N)
  std::string ret_flags;                   // A ret_flags= (-R)
  std::vector<std::string> recipients;     // R in the envelope
  std::vector<std::string> lines;          // content lines without line ends
  std::vector<std::string> extracted;      // R in the extracted segment (-t)
};

// The records sendmail hands to postdrop: no T, envelope ... E.
std::vector<Record> submission_records(const Submission& m, size_t line_limit = 2048);

// Encodes records back to back.
std::string encode_records(const std::vector<Record>& records);

// Sends a maildrop message (records T ... E) to cleanup, with the
// Received: header pickup adds ("by HOST (MAIL_NAME, from userid UID)")
// right after M. `arrival` dates that header. Returns cleanup's verdict.
Result<CleanupOutcome> feed_cleanup(CleanupClient& cleanup, const std::vector<Record>& records,
                                    const std::string& myhostname, const std::string& mail_name,
                                    uid_t uid, std::time_t arrival);

// The sender of a record list ("" when none).
std::string records_sender(const std::vector<Record>& records);

// Recipient addresses from To:, Cc:, Bcc: (or the Resent- forms when the
// message has any Resent- header), as sendmail -t extracts them.
std::vector<std::string> extract_recipients(const std::vector<std::string>& lines);

}  // namespace postern::submit
