// The queue listing shared by showq, postqueue and tests: one message as
// the showq protocol carries it (COMPAT.md section 5), its attribute-list
// encoding, and the two output formats of postqueue (section 9):
// `postqueue -p` / mailq text and `postqueue -j` JSON lines.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "global/attr.h"
#include "util/error.h"

namespace postern {

struct ShowqRecipient {
  std::string address;
  std::string reason;  // delay reason from the defer log, or ""
};

struct ShowqMessage {
  std::string queue_name;  // maildrop incoming active deferred hold
  std::string queue_id;
  long long arrival_time = 0;  // epoch seconds
  long long size = 0;          // message content size
  bool forced_expire = false;
  std::string sender;          // "" = null sender
  std::vector<ShowqRecipient> recipients;
};

// The protocol name showq announces.
inline constexpr std::string_view kShowqProtocol = "mail_queue_list_protocol";

// One message as one attribute list: queue_name, queue_id, time, size,
// forced_expire, sender, then recipient/reason pairs.
AttrList showq_encode(const ShowqMessage& m);
// The inverse; a list without queue_name/queue_id/time/size is kInvalid.
Result<ShowqMessage> showq_decode(const AttrList& list);

// JSON string body with Postfix's escapes: \" \\ \b \f \n \r \t, other
// control characters (and DEL) as \u00XX; other bytes unchanged.
std::string json_escape(std::string_view s);
// One `postqueue -j` line (with the trailing newline).
std::string showq_json_line(const ShowqMessage& m);

// Builds `postqueue -p` output message by message.
class MailqPrinter {
 public:
  // Appends the listing of `m` to `out` (the header before the first message).
  void add(const ShowqMessage& m, std::string& out);
  // Appends the trailer: "-- N Kbytes in M Requests." or
  // "Mail queue is empty" when nothing was added.
  void finish(std::string& out);

  long long messages() const { return count_; }

 private:
  long long count_ = 0;
  long long total_size_ = 0;
};

}  // namespace postern
