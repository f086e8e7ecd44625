// Per-recipient results of a delivery agent, as Postfix records them:
//   sent     -> log "status=sent", mark the R record done (D) in place
//   deferred -> log "status=deferred", append to the defer/ log
//   bounced  -> log "status=bounced", append to the bounce/ log, mark done
// (soft_bounce turns a bounce into a deferral with a 4.x.x status.)
// Trace-only requests (deliver_trace_only(): address probes with
// kDeliverFlagVerify, `sendmail -bv` with kDeliverFlagUserVerify) are
// never delivered: every result is logged as "status=deliverable" or
// "status=undeliverable", sent to the verify service (probes) or to the
// trace/ log (-bv), and the recipient is marked done, deferrals included.
// The log line is Postfix's:
//   ID: to=<r>, [orig_to=<o>, ]relay=R, delay=D, delays=a/b/c/d, dsn=X.Y.Z,
//   status=S (text)
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "global/deliver_request.h"
#include "global/dsn.h"
#include "global/mail_queue.h"

namespace postern {

// Postfix's delay format: two significant digits, at most two decimals,
// no trailing zeros ("0", "0.01", "4.1", "90", "305").
std::string format_delay(long long usec);

// One recipient record of a defer/ or bounce/ log (no trailing empty line
// handling: the text ends with an empty line).
std::string format_status_record(const DeliverRecipient& rcpt, const DsnResult& dsn);

// Appends `text` to the log file `path` (created 0600, owned by uid/gid
// when they are not -1), under an exclusive flock.
Status append_status_log(const std::string& path, std::string_view text, uid_t uid = -1,
                         gid_t gid = -1);

class StatusReporter {
 public:
  // `queue_fd` is the open queue file (for done marks); `queue` locates the
  // defer/ and bounce/ logs; `relay` is what the log calls the relay.
  // When running as root, log files are given to owner_uid/owner_gid.
  StatusReporter(const DeliverRequest& req, int queue_fd, const MailQueue& queue, std::string relay,
                 bool soft_bounce, uid_t owner_uid = -1, gid_t owner_gid = -1);

  // Marks the end of connection setup (the c of delays=a/b/c/d).
  void connected() { connected_us_ = now_us(); }
  void set_relay(std::string relay) { relay_ = std::move(relay); }
  // The queue file for done marks (-1: none open; only deferrals then).
  void set_queue_fd(int fd) { fd_ = fd; }

  void sent(const DeliverRecipient& r, const DsnResult& dsn);
  void defer(const DeliverRecipient& r, const DsnResult& dsn);
  void bounce(const DeliverRecipient& r, const DsnResult& dsn);
  // defer or bounce by the status class (4 or 5).
  void fail(const DeliverRecipient& r, const DsnResult& dsn);
  // sent, defer or bounce by the status class (2, 4 or 5).
  void report(const DeliverRecipient& r, const DsnResult& dsn);

  // For a recipient that expands into several deliveries (aliases,
  // .forward): between hold() and release() results are logged but the
  // recipient is marked done, once, at release() and only if none of its
  // deliveries was deferred.
  void hold() { hold_ = true; held_.reset(); }
  void release(const DeliverRecipient& r);
  // A result that another agent logged and recorded (local's
  // mailbox_transport hand-off): counted for the reply only.
  void passed(const DeliverRecipient& r, RcptOutcome o) { record(r, o); }

  // The reply for qmgr: status 1 when some result could not be recorded.
  const DeliverReply& reply() const { return reply_; }
  DeliverReply& reply() { return reply_; }

  // The text logged for one result (exposed for tests).
  std::string log_line(const DeliverRecipient& r, std::string_view status, const DsnResult& dsn,
                       long long now) const;

 private:
  void record(const DeliverRecipient& r, RcptOutcome o);
  // Handles a result of a trace-only request; false for normal requests.
  bool trace_result(const DeliverRecipient& r, const DsnResult& dsn, int verify_status);
  bool append_log(std::string_view queue, const DeliverRecipient& r, const DsnResult& dsn);

  const DeliverRequest& req_;
  int fd_;
  const MailQueue& queue_;
  std::string relay_;
  bool soft_bounce_;
  uid_t uid_;
  gid_t gid_;
  long long connected_us_ = 0;
  bool hold_ = false;
  std::optional<RcptOutcome> held_;
  DeliverReply reply_;
};

}  // namespace postern
