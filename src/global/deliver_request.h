// The delivery request protocol between qmgr and the delivery agents
// (private/<transport>): what to deliver, to whom, and the agent's answer.
//
// Exchange (attribute protocol, NUL encoding, COMPAT.md section 5):
//   agent -> qmgr  protocol=delivery_request_protocol
//   qmgr  -> agent one list: the message attributes below, then per
//                  recipient the group original_recipient, recipient,
//                  offset, dsn_orig_rcpt, notify_flags (repeated names, in
//                  order; rcpt_count says how many groups follow)
//   agent -> qmgr  status=0|1 (0: every recipient was delivered, bounced or
//                  deferred and its status recorded; 1: the agent could not
//                  record a result, qmgr defers what is left), then per
//                  recipient rcpt_status=<offset>:<class> where class is
//                  S (sent), D (deferred) or B (bounced), and optionally
//                  dsn_status/reason describing a failure of the whole
//                  destination (qmgr marks it dead for a while).
// Times are microseconds since the epoch, as decimal text.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "global/attr.h"
#include "util/error.h"
#include "util/stream.h"

namespace postern {

inline constexpr std::string_view kDeliverProtocol = "delivery_request_protocol";

// Request flags (Postfix's DEL_REQ_FLAG_* values, so the numbers in
// queue files and logs mean the same thing).
inline constexpr int kDeliverFlagRecordSent = 1;  // unused for now, reserved
// An address probe from the verify service (address verification): the
// agent does not deliver; StatusReporter sends each result to the verify
// service ("status=deliverable" / "undeliverable" in the log) instead of
// the defer/bounce logs. Carried in the queue file as `A trace_flags=256`.
inline constexpr int kDeliverFlagVerify = 1 << 8;
// `sendmail -bv`: the agent does not deliver; StatusReporter records what
// would happen in the trace/ log, and bounce sends the sender a delivery
// report from it. `A trace_flags=512`.
inline constexpr int kDeliverFlagUserVerify = 1 << 9;
// The flags that travel in the queue file's trace_flags attribute.
inline constexpr int kDeliverTraceFlagsMask = kDeliverFlagVerify | kDeliverFlagUserVerify;
// True when the agent must only report what would happen (no delivery).
inline constexpr bool deliver_trace_only(int flags) {
  return (flags & (kDeliverFlagVerify | kDeliverFlagUserVerify)) != 0;
}

struct DeliverRecipient {
  std::string orig;       // original recipient ("" when none)
  std::string address;    // resolved recipient
  off_t offset = 0;       // of its R record in the queue file
  std::string dsn_orcpt;  // dsn_orig_rcpt ("rfc822;a@b")
  int notify_flags = 0;
};

struct DeliverRequest {
  int flags = 0;
  std::string queue_name;   // "active"
  std::string queue_id;
  off_t data_offset = 0;    // first content record
  long data_size = 0;       // content size (the size= of the logs)
  std::string nexthop;
  std::string encoding;
  int smtputf8 = 0;
  std::string sender;
  std::string envelope_id;
  int ret_flags = 0;
  long long arrival_us = 0;  // message arrival (T record)
  long long active_us = 0;   // when qmgr moved it to active
  long long handoff_us = 0;  // when qmgr handed it to the agent
  std::string client_name, client_addr, rewrite_context;
  std::string transport;     // the transport name qmgr used
  std::vector<DeliverRecipient> recipients;

  AttrList to_attrs() const;
  // Missing required attributes or malformed numbers are kInvalid.
  static Result<DeliverRequest> from_attrs(const AttrList& list);
};

enum class RcptOutcome : char { kSent = 'S', kDeferred = 'D', kBounced = 'B' };

struct DeliverReply {
  int status = 0;
  std::vector<std::pair<off_t, RcptOutcome>> outcomes;
  std::string dsn_status;  // set when the whole destination failed
  std::string reason;

  AttrList to_attrs() const;
  static Result<DeliverReply> from_attrs(const AttrList& list);
};

// qmgr side: connects to `socket_path`, checks the announcement, sends the
// request and waits for the reply, each step within `timeout`.
Result<DeliverReply> deliver_request_send(const std::string& socket_path,
                                          const DeliverRequest& request,
                                          std::chrono::seconds timeout);

// Microseconds since the epoch, now.
long long now_us();

}  // namespace postern
