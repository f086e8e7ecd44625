// cleanup's part of the milter protocol: the content phase.
//
// smtpd_milters: smtpd hands its milter connections over in the envelope
// (an 'm' record with the count, then the descriptors and their state,
// see CleanupClient::send_milters). non_smtpd_milters: for mail from
// sendmail/pickup, cleanup connects itself and sends the connect
// ("localhost [127.0.0.1]"), HELO, MAIL FROM and RCPT TO events first.
//
// Once the queue file is written (not yet committed), each milter in turn
// gets the headers, end of headers, the body and end of message, reading
// the message as the queue file has it, with the previous milters'
// changes. The changes (headers added/inserted/changed/deleted, body
// replaced, recipients added/deleted, sender changed) are applied to the
// queue file by writing it again. Rejections, DISCARD and quarantine
// (HOLD) become cleanup's verdict, logged as Postfix does.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "global/attr.h"
#include "global/milter.h"
#include "global/queue_file.h"
#include "util/stream.h"

namespace postern {
class Config;
}

namespace postern::cleanup {

struct MilterVerdict {
  int status = 0;        // kCleanupStat* bits; 0 = go ahead
  std::string reason;    // for the client
  bool hold = false;
  bool discard = false;
  // The rewritten queue file's writer (commit this one instead), or null.
  std::unique_ptr<QueueFileWriter> writer;
};

class CleanupMilters {
 public:
  // non_smtpd_milters and the macro settings from `cfg`; a malformed list
  // is logged and ignored.
  static CleanupMilters from_config(const Config& cfg);

  // A copy of the settings for one message (no milters yet).
  CleanupMilters for_message() const {
    CleanupMilters c;
    c.non_smtpd_ = non_smtpd_;
    c.myhostname_ = myhostname_;
    c.daemon_name_ = daemon_name_;
    c.macro_v_ = macro_v_;
    return c;
  }

  // After an 'm' record: acknowledges, receives `count` descriptors and
  // their state lists. Errors leave no milters.
  Status receive(Stream& s, std::string_view count);

  // The content phase for the message in `fd` (written through `writer`,
  // not yet committed). `external` is the client's kCleanupFlagMilter bit.
  MilterVerdict run(int fd, QueueFileWriter& writer, const std::string& queue_id,
                    size_t line_limit);

  // For the smtpd hand-over: the milters that were received.
  bool received() const { return received_; }

 private:
  std::vector<milter::Settings> non_smtpd_;
  std::string myhostname_, daemon_name_, macro_v_;
  bool received_ = false;
  std::vector<std::unique_ptr<milter::Milter>> milters_;
  AttrList macros_;
};

}  // namespace postern::cleanup
