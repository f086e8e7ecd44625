#include "global/deliver_status.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "global/config.h"
#include "global/queue_file.h"
#include "global/verify_client.h"
#include "util/log.h"
#include "util/unique_fd.h"

namespace postern {

std::string format_delay(long long usec) {
  if (usec < 0) usec = 0;
  long long sec = usec / 1000000;
  long long frac = usec % 1000000;  // microseconds
  std::string out = std::to_string(sec);
  int sig_left = 2;
  if (sec > 0) sig_left -= static_cast<int>(out.size());
  if (sig_left <= 0) return out;
  // Fraction digits: at most 2 decimals; with sec == 0 leading zeros do not
  // count as significant.
  std::string digits;
  bool seen_nonzero = sec > 0;
  long long scale = 100000;
  for (int i = 0; i < 2 && sig_left > 0; ++i) {
    int d = static_cast<int>((frac / scale) % 10);
    scale /= 10;
    digits.push_back(static_cast<char>('0' + d));
    if (d != 0) seen_nonzero = true;
    if (seen_nonzero) --sig_left;
  }
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  if (!digits.empty()) out += "." + digits;
  return out;
}

std::string format_status_record(const DeliverRecipient& r, const DsnResult& d) {
  std::string t;
  t += "recipient=" + r.address + "\n";
  if (!r.orig.empty()) t += "original_recipient=" + r.orig + "\n";
  t += "offset=" + std::to_string(r.offset) + "\n";
  if (!r.dsn_orcpt.empty()) t += "dsn_orig_rcpt=" + r.dsn_orcpt + "\n";
  if (r.notify_flags) t += "notify_flags=" + std::to_string(r.notify_flags) + "\n";
  t += "status=" + d.status + "\n";
  t += "action=" + d.action + "\n";
  if (!d.dtype.empty()) t += "diag_type=" + d.dtype + "\ndiag_text=" + d.dtext + "\n";
  if (!d.mtype.empty()) t += "mta_type=" + d.mtype + "\nmta_mname=" + d.mname + "\n";
  t += "reason=" + d.reason + "\n\n";
  return t;
}

Status append_status_log(const std::string& path, std::string_view text, uid_t uid, gid_t gid) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0700) == 0 && uid != static_cast<uid_t>(-1))
      (void)::chown(dir.c_str(), uid, gid);
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return sys_fail("open " + path);
  if (uid != static_cast<uid_t>(-1)) (void)::fchown(fd.get(), uid, gid);
  if (::flock(fd.get(), LOCK_EX) != 0) return sys_fail("lock " + path);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail("write " + path);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

StatusReporter::StatusReporter(const DeliverRequest& req, int queue_fd, const MailQueue& queue,
                               std::string relay, bool soft_bounce, uid_t owner_uid,
                               gid_t owner_gid)
    : req_(req),
      fd_(queue_fd),
      queue_(queue),
      relay_(std::move(relay)),
      soft_bounce_(soft_bounce),
      uid_(::geteuid() == 0 ? owner_uid : static_cast<uid_t>(-1)),
      gid_(::geteuid() == 0 ? owner_gid : static_cast<gid_t>(-1)) {}

std::string StatusReporter::log_line(const DeliverRecipient& r, std::string_view status,
                                     const DsnResult& d, long long now) const {
  long long arrival = req_.arrival_us, active = req_.active_us, handoff = req_.handoff_us;
  if (active < arrival) active = arrival;
  if (handoff < active) handoff = active;
  long long conn = connected_us_ ? connected_us_ : handoff;
  if (conn < handoff) conn = handoff;
  std::string line = req_.queue_id + ": to=<" + r.address + ">";
  if (!r.orig.empty() && r.orig != r.address) line += ", orig_to=<" + r.orig + ">";
  line += ", relay=" + relay_;
  line += ", delay=" + format_delay(now - arrival);
  line += ", delays=" + format_delay(active - arrival) + "/" + format_delay(handoff - active) +
          "/" + format_delay(conn - handoff) + "/" + format_delay(now - conn);
  line += ", dsn=" + d.status + ", status=" + std::string(status) + " (" + d.reason + ")";
  return line;
}

void StatusReporter::record(const DeliverRecipient& r, RcptOutcome o) {
  if (hold_) {
    // Deferred wins over bounced, bounced over sent.
    auto rank = [](RcptOutcome x) { return x == RcptOutcome::kDeferred ? 2 : x == RcptOutcome::kBounced ? 1 : 0; };
    if (!held_ || rank(o) > rank(*held_)) held_ = o;
    return;
  }
  reply_.outcomes.emplace_back(r.offset, o);
}

void StatusReporter::release(const DeliverRecipient& r) {
  hold_ = false;
  if (!held_) {
    // Nothing was delivered, deferred or bounced: keep the recipient.
    log::warn("{}: no delivery result for {}; trying again later", req_.queue_id, r.address);
    reply_.outcomes.emplace_back(r.offset, RcptOutcome::kDeferred);
    return;
  }
  RcptOutcome o = *held_;
  held_.reset();
  if (o != RcptOutcome::kDeferred) {
    if (auto s = mark_recipient(fd_, r.offset); !s) {
      log::warn("{}: cannot mark recipient {} done: {}", req_.queue_id, r.address, s.error().text);
      reply_.status = 1;
    }
  }
  reply_.outcomes.emplace_back(r.offset, o);
}

void StatusReporter::report(const DeliverRecipient& r, const DsnResult& dsn) {
  if (!dsn.status.empty() && dsn.status[0] == '2')
    sent(r, dsn);
  else
    fail(r, dsn);
}

bool StatusReporter::append_log(std::string_view queue, const DeliverRecipient& r,
                                const DsnResult& dsn) {
  std::string path = queue_.path(queue, req_.queue_id);
  if (auto s = append_status_log(path, format_status_record(r, dsn), uid_, gid_); !s) {
    log::warn("{}: cannot update {} log: {}", req_.queue_id, queue,
              s.error().text);
    reply_.status = 1;
    return false;
  }
  return true;
}

bool StatusReporter::trace_result(const DeliverRecipient& r, const DsnResult& in,
                                  int verify_status) {
  if (!deliver_trace_only(req_.flags)) return false;
  DsnResult dsn = in;
  dsn.action = verify_status == kVerifyOk ? "deliverable" : "undeliverable";
  bool ok = true;
  if (req_.flags & kDeliverFlagVerify) {
    const Config& cfg = config();
    if (verify_status == kVerifyOk || cfg.get_bool("address_verify_negative_cache")) {
      std::string name = cfg.get("address_verify_service_name");
      VerifyClient client(verify_socket_path(queue_.directory(), name));
      // The probe's recipient is the address asked about; after alias
      // expansion the original one is, so both are answered.
      Status s;
      if (!r.orig.empty()) s = client.update(r.orig, verify_status, dsn.reason);
      if (s && r.address != r.orig) s = client.update(r.address, verify_status, dsn.reason);
      if (!s) {
        log::warn("{}: {} service failure: {}", req_.queue_id,
                  name.empty() ? "verify" : name, s.error().text);
        ok = false;
      }
    } else {
      dsn.action = "undeliverable-but-not-cached";
    }
  } else {
    // sendmail -bv: the report says which agent would do it.
    DsnResult t = dsn;
    t.reason = "delivery via " + relay_ + ": " + dsn.reason;
    ok = append_log("trace", r, t);
  }
  if (!ok) {
    reply_.status = 1;
    record(r, RcptOutcome::kDeferred);
    return true;
  }
  log::info("{}", log_line(r, dsn.action, dsn, now_us()));
  // Nothing is retried: the answer is in; the recipient is done.
  if (!hold_ && fd_ >= 0) {
    if (auto s = mark_recipient(fd_, r.offset); !s) {
      log::warn("{}: cannot mark recipient {} done: {}", req_.queue_id, r.address, s.error().text);
      reply_.status = 1;
    }
  } else if (!hold_) {
    record(r, RcptOutcome::kDeferred);
    return true;
  }
  record(r, verify_status == kVerifyOk ? RcptOutcome::kSent : RcptOutcome::kBounced);
  return true;
}

void StatusReporter::sent(const DeliverRecipient& r, const DsnResult& dsn) {
  if (trace_result(r, dsn, kVerifyOk)) return;
  log::info("{}", log_line(r, "sent", dsn, now_us()));
  if (r.notify_flags & kDsnNotifySuccess) {
    // NOTIFY=SUCCESS: qmgr has bounce send a delivery report from this log.
    DsnResult t = dsn;
    if (t.action.empty()) t.action = "delivered";
    append_log("trace", r, t);
  }
  if (hold_) {
    record(r, RcptOutcome::kSent);
    return;
  }
  if (auto s = mark_recipient(fd_, r.offset); !s) {
    log::warn("{}: cannot mark recipient {} done: {}", req_.queue_id, r.address, s.error().text);
    reply_.status = 1;
  }
  record(r, RcptOutcome::kSent);
}

void StatusReporter::defer(const DeliverRecipient& r, const DsnResult& in) {
  DsnResult dsn = in;
  dsn.action = "delayed";
  if (dsn.status.empty() || dsn.status[0] != '4') dsn.status = "4" + (dsn.status.size() > 1 ? dsn.status.substr(1) : std::string(".0.0"));
  if (trace_result(r, dsn, kVerifyDefer)) return;
  log::info("{}", log_line(r, "deferred", dsn, now_us()));
  append_log("defer", r, dsn);
  record(r, RcptOutcome::kDeferred);
}

void StatusReporter::bounce(const DeliverRecipient& r, const DsnResult& in) {
  if (soft_bounce_) {
    defer(r, in);
    return;
  }
  DsnResult dsn = in;
  dsn.action = "failed";
  if (trace_result(r, dsn, kVerifyBounce)) return;
  log::info("{}", log_line(r, "bounced", dsn, now_us()));
  if (append_log("bounce", r, dsn) && !hold_) {
    if (auto s = mark_recipient(fd_, r.offset); !s) {
      log::warn("{}: cannot mark recipient {} done: {}", req_.queue_id, r.address, s.error().text);
      reply_.status = 1;
    }
  }
  record(r, RcptOutcome::kBounced);
}

void StatusReporter::fail(const DeliverRecipient& r, const DsnResult& dsn) {
  if (dsn.klass() == '5')
    bounce(r, dsn);
  else
    defer(r, dsn);
}

}  // namespace postern
