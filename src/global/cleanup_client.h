// Client side of the cleanup service (public/cleanup), as smtpd, pickup,
// sendmail's postdrop path and bounce use it:
//   server -> protocol=cleanup_protocol, queue_id=ID
//   client -> flags=N                 (kCleanupFlag* bits)
//   client -> queue records T ... E   (Postfix's record format, no C record)
//   server -> status=N, reason=TEXT   (0 = queued; kCleanupStat* bits)
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "global/attr.h"

#include "util/error.h"
#include "util/stream.h"

namespace postern {

class Config;

// What the client asks cleanup to do (Postfix's CLEANUP_FLAG_* values).
enum CleanupFlags : int {
  kCleanupFlagBounce = 1,      // bounce bad messages instead of discarding them
  kCleanupFlagFilter = 2,      // apply header/body checks
  kCleanupFlagHold = 4,        // place the message on hold
  kCleanupFlagDiscard = 8,     // discard the message silently
  kCleanupFlagBccOk = 16,      // always_bcc and sender/recipient bcc maps apply
  kCleanupFlagMapOk = 32,      // canonical, virtual alias and masquerading apply
  kCleanupFlagMilter = 64,     // run milters
  kCleanupFlagSmtpReply = 128, // the reason text is an SMTP reply
  kCleanupFlagSmtputf8 = 256,
  kCleanupFlagAutoUtf8 = 512,
};
// Flags that front ends use by default (Postfix's CLEANUP_FLAG_MASK_EXTERNAL).
inline constexpr int kCleanupFlagsExternal =
    kCleanupFlagFilter | kCleanupFlagBccOk | kCleanupFlagMapOk | kCleanupFlagMilter;

// Why cleanup did not queue a message (Postfix's CLEANUP_STAT_* bits).
enum CleanupStatus : int {
  kCleanupStatBad = 1,       // protocol error
  kCleanupStatWrite = 2,     // queue file write error
  kCleanupStatSize = 4,      // message too large
  kCleanupStatContent = 8,   // content rejected
  kCleanupStatHops = 16,     // too many hops
  kCleanupStatRcpt = 64,     // no recipients
  kCleanupStatProxy = 128,   // proxy error
  kCleanupStatDefer = 256,   // temporary rejection
  kCleanupStatNoPerm = 512,  // denied
};

// How a front end reports a status: SMTP code, enhanced code, text.
struct CleanupStatusDetail {
  int smtp;
  std::string_view dsn;
  std::string_view text;
};
// The detail for the most important bit set in `status` (status != 0).
CleanupStatusDetail cleanup_status_detail(int status);

struct CleanupOutcome {
  int status = 0;      // 0: queued
  std::string reason;  // cleanup's text when it rejected the message
};

class CleanupClient {
 public:
  // Connects to public/$cleanup_service_name and sends `flags`.
  // kTemporary when cleanup cannot be reached.
  static Result<CleanupClient> open(const Config& cfg, int flags);
  // Same, to an explicit socket (tests).
  static Result<CleanupClient> open_socket(const std::string& path, int flags,
                                           std::chrono::seconds timeout);

  const std::string& queue_id() const { return queue_id_; }
  // Buffers one record; sent on flush() or when the buffer fills.
  Status record(int type, std::string_view data);
  // Content lines are split into N records when longer than `limit`.
  Status content_line(std::string_view line, size_t limit = 2048);
  Status flush();
  // Hands milter connections over (smtpd_milters): an 'm' record with the
  // count, cleanup's go-ahead, the descriptors, then `lists` (one
  // attribute list for the macros, then one per milter). Call in the
  // envelope segment, before the M record.
  Status send_milters(const std::vector<int>& fds, const std::vector<AttrList>& lists);
  // Sends the E record and reads cleanup's verdict.
  Result<CleanupOutcome> finish();

 private:
  CleanupClient(Stream s, std::string queue_id, std::string path)
      : stream_(std::move(s)), queue_id_(std::move(queue_id)), path_(std::move(path)) {}
  Stream stream_;
  std::string queue_id_;
  std::string path_;
};

}  // namespace postern
