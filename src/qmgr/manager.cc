#include "qmgr/manager.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "global/deliver_status.h"
#include "global/resolve_reply.h"
#include "qmgr/schedule.h"
#include "util/socket.h"
#include "util/log.h"
#include "util/unique_fd.h"

namespace postern::qmgr {

Settings Settings::from_config(const Config& cfg) {
  Settings s;
  s.min_backoff = cfg.get_time("minimal_backoff_time");
  s.max_backoff = cfg.get_time("maximal_backoff_time");
  s.queue_run_delay = cfg.get_time("queue_run_delay");
  s.max_lifetime = cfg.get_time("maximal_queue_lifetime");
  s.bounce_lifetime = cfg.get_time("bounce_queue_lifetime");
  s.active_limit = cfg.get_int("qmgr_message_active_limit");
  s.defer_transports = cfg.get_list("defer_transports");
  s.dead_time = std::max<long>(1, std::min(s.min_backoff, 60L));
  s.agent_timeout = std::chrono::seconds(std::max<long long>(cfg.get_time("ipc_timeout"), 60));
  return s;
}

Manager::Manager(const Config& cfg, MailQueue queue)
    : cfg_(cfg), queue_(std::move(queue)), s_(Settings::from_config(cfg)),
      rewrite_(RewriteClient::from_config(cfg)) {}

void Manager::recover_active() {
  auto ids = queue_.scan("active");
  if (!ids) return;
  for (const auto& id : *ids) {
    if (auto s = queue_.move("active", "incoming", id); !s)
      log::warn("{}: cannot move from active to incoming: {}", id, s.error().text);
  }
}

long Manager::recipient_limit(const std::string& transport) const {
  std::string name = transport + "_destination_recipient_limit";
  if (cfg_.raw(name)) {
    if (auto v = cfg_.int_value(name); v) return static_cast<long>(*v);
  }
  return static_cast<long>(cfg_.get_int("default_destination_recipient_limit"));
}

void Manager::run(bool incoming, bool deferred, bool all) {
  time_t now = ::time(nullptr);
  std::vector<std::string> ready;
  auto take = [&](std::string_view q, bool check_due) {
    auto ids = queue_.scan(q);
    if (!ids) return;
    for (const auto& id : *ids) {
      if (static_cast<long>(ready.size()) >= s_.active_limit) return;
      struct stat st;
      std::string path = queue_.path(q, id);
      if (::stat(path.c_str(), &st) != 0) continue;
      if (!queue_file_complete(st.st_mode)) continue;  // still being written
      if (!all) {
        if (check_due && st.st_mtime > now) continue;
        if (!check_due && st.st_mtime > now + 1) continue;
      }
      if (auto s = queue_.move(q, "active", id); !s) {
        log::warn("{}: cannot move to active: {}", id, s.error().text);
        continue;
      }
      ready.push_back(id);
    }
  };
  if (incoming) take("incoming", false);
  if (deferred) take("deferred", true);
  for (const auto& id : ready) deliver_message(id);
}

namespace {

// The reason of each recipient in a defer log, by recipient offset.
std::map<off_t, std::string> defer_reasons(const std::string& path) {
  std::map<off_t, std::string> out;
  auto text = read_file(path, 16 << 20);
  if (!text) return out;
  off_t offset = -1;
  size_t pos = 0;
  while (pos < text->size()) {
    size_t nl = text->find('\n', pos);
    if (nl == std::string::npos) nl = text->size();
    std::string_view line(text->data() + pos, nl - pos);
    pos = nl + 1;
    if (line.starts_with("offset=")) offset = std::atol(std::string(line.substr(7)).c_str());
    if (line.starts_with("reason=") && offset >= 0) out[offset] = std::string(line.substr(7));
  }
  return out;
}

}  // namespace

void Manager::deliver_message(const std::string& id) {
  std::string path = queue_.path("active", id);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    if (errno != ENOENT) log::warn("{}: open {}: {}", id, path, std::strerror(errno));
    return;
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    log::info("{}: skipped, still being delivered", id);
    (void)queue_.move("active", "incoming", id);
    return;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return;
  auto info = read_queue_file(fd.get(), id);
  if (!info || !info->size || !info->has_end) {
    if (!info) log::warn("{}", info.error().text);
    (void)queue_.save_corrupt("active", id);
    return;
  }
  log::info("{}: from=<{}>, size={}, nrcpt={} (queue active)", id, info->sender,
            info->size->content_size, info->size->rcpt_count);
  // A new attempt starts with a fresh defer log (Postfix resets it too).
  (void)::unlink(queue_.path("defer", id).c_str());
  ::flock(fd.get(), LOCK_UN);

  // The request fields every batch shares.
  DeliverRequest base;
  base.queue_name = "active";
  base.queue_id = id;
  base.data_offset = info->content_offset;
  base.data_size = info->size->content_size;
  base.smtputf8 = static_cast<int>(info->size->smtputf8);
  base.sender = info->sender;
  base.encoding = info->attr("encoding").value_or("");
  base.envelope_id = info->attr("envelope_id").value_or("");
  base.ret_flags = std::atoi(info->attr("ret_flags").value_or("0").c_str());
  base.arrival_us = static_cast<long long>(info->arrival_sec) * 1000000 + info->arrival_usec;
  base.active_us = now_us();
  base.client_name = info->attr("client_name").value_or("");
  base.client_addr = info->attr("client_address").value_or("");
  base.rewrite_context = info->attr("rewrite_context").value_or("local");

  bool deferred = false;
  // Results qmgr records itself (relay=none).
  DeliverRequest own = base;
  StatusReporter self(own, fd.get(), queue_, "none", cfg_.get_bool("soft_bounce"));

  auto to_rcpt = [&](const QueueRecipient& q) {
    return DeliverRecipient{q.orig, q.address, q.offset, q.dsn_orcpt, q.notify_flags};
  };

  std::vector<Routed> routed;
  std::vector<DeliverRecipient> resolved;  // by index into info->recipients
  resolved.resize(info->recipients.size());
  for (size_t i = 0; i < info->recipients.size(); ++i) {
    const auto& q = info->recipients[i];
    if (q.done()) continue;
    DeliverRecipient r = to_rcpt(q);
    resolved[i] = r;
    auto rr = rewrite_.resolve(info->sender, q.address);
    if (!rr || (rr->flags & kResolveFail)) {
      self.defer(r, DsnResult{"4.3.0", "delayed", "address resolver failure", "", "", "", ""});
      deferred = true;
      continue;
    }
    if (rr->flags & kResolveError) {
      self.bounce(r, DsnResult{"5.1.3", "failed", "bad address syntax", "", "", "", ""});
      continue;
    }
    resolved[i].address = rr->recipient;
    if (std::find(s_.defer_transports.begin(), s_.defer_transports.end(), rr->transport) !=
        s_.defer_transports.end()) {
      self.defer(r, DsnResult{"4.3.2", "delayed", "deferred transport", "", "", "", ""});
      deferred = true;
      continue;
    }
    routed.push_back(Routed{rr->transport, rr->nexthop, i});
  }

  auto batches = make_batches(routed, [this](const std::string& t) { return recipient_limit(t); });
  for (const auto& b : batches) {
    std::string key = b.transport + ":" + b.nexthop;
    time_t now = ::time(nullptr);
    auto dead = dead_.find(key);
    if (dead != dead_.end() && dead->second.first <= now) dead_.erase(dead), dead = dead_.end();
    if (dead != dead_.end()) {
      for (size_t i : b.indexes)
        self.defer(resolved[i], DsnResult{"4.4.1", "delayed",
                                          "delivery temporarily suspended: " + dead->second.second,
                                          "", "", "", ""});
      deferred = true;
      continue;
    }
    DeliverRequest req = base;
    req.nexthop = b.nexthop;
    req.transport = b.transport;
    req.handoff_us = now_us();
    for (size_t i : b.indexes) req.recipients.push_back(resolved[i]);
    std::string socket = queue_.directory() + "/private/" + b.transport;
    auto reply = deliver_request_send(socket, req, s_.agent_timeout);
    if (!reply) {
      log::warn("connect to transport private/{}: {}", b.transport, reply.error().text);
      std::string why = "mail transport unavailable";
      dead_[key] = {::time(nullptr) + s_.dead_time, why};
      for (const auto& r : req.recipients)
        self.defer(r, DsnResult{"4.3.0", "delayed", why, "", "", "", ""});
      deferred = true;
      continue;
    }
    std::map<off_t, RcptOutcome> got(reply->outcomes.begin(), reply->outcomes.end());
    for (const auto& r : req.recipients) {
      auto it = got.find(r.offset);
      // A recipient the agent did not report stays pending.
      if (it == got.end() || it->second == RcptOutcome::kDeferred) deferred = true;
    }
    if (reply->status != 0) deferred = true;
    if (!reply->dsn_status.empty() && reply->dsn_status[0] == '4')
      dead_[key] = {::time(nullptr) + s_.dead_time, reply->reason};
  }
  long age = static_cast<long>(::time(nullptr) - info->arrival_sec);
  bool forced = (st.st_mode & kQueueModeExpired) != 0;
  if (deferred && message_expired(age, info->sender.empty(), s_.max_lifetime,
                                  s_.bounce_lifetime, forced)) {
    expire_message(id, fd.get(), *info);
    return;
  }
  finish_message(id, *info, deferred);
}

void Manager::remove_logs(const std::string& id) {
  for (std::string_view q : {"defer", "bounce", "trace"}) {
    std::string p = queue_.path(q, id);
    (void)::unlink(p.c_str());
  }
}

bool Manager::flush_bounces(const std::string& id) {
  std::string log_path = queue_.path("bounce", id);
  if (::access(log_path.c_str(), F_OK) != 0) return true;
  // Ask the bounce service to return the bounced recipients to the sender.
  std::string socket = queue_.directory() + "/private/" + cfg_.get("bounce_service_name");
  auto fd = connect_unix(socket, Clock::now() + std::chrono::seconds(30));
  if (!fd) {
    log::warn("{}: bounce service {}: {}", id, socket, fd.error().text);
    return false;
  }
  Stream s = Stream::from_fd(std::move(*fd));
  s.set_timeout(std::chrono::seconds(300));
  if (auto ok = attr_expect_protocol(s, AttrEncoding::kNul, "delivery_status_protocol"); !ok) {
    log::warn("{}: bounce service: {}", id, ok.error().text);
    return false;
  }
  AttrList req{{"nrequest", "flush"}};
  req.add("flags", 0).add("queue_name", "active").add("queue_id", id);
  auto reply = attr_request(s, AttrEncoding::kNul, req);
  if (!reply || reply->number_or("status", 1) != 0) {
    log::warn("{}: bounce service failed{}", id, reply ? "" : ": " + reply.error().text);
    return false;
  }
  return true;
}

void Manager::finish_message(const std::string& id, const QueueFileInfo& info, bool deferred) {
  bool bounced_ok = flush_bounces(id);
  if (!bounced_ok) deferred = true;
  if (!deferred) {
    if (auto s = queue_.remove("active", id); !s) {
      log::warn("{}: remove: {}", id, s.error().text);
      return;
    }
    remove_logs(id);
    log::info("{}: removed", id);
    return;
  }
  time_t now = ::time(nullptr);
  long delay = backoff_delay(static_cast<long>(now - info.arrival_sec), s_.min_backoff,
                             s_.max_backoff);
  struct timeval tv[2];
  tv[0].tv_sec = tv[1].tv_sec = now + delay;
  tv[0].tv_usec = tv[1].tv_usec = 0;
  std::string path = queue_.path("active", id);
  if (::utimes(path.c_str(), tv) != 0) log::warn("{}: set retry time: {}", id, std::strerror(errno));
  if (auto s = queue_.move("active", "deferred", id); !s)
    log::warn("{}: move to deferred: {}", id, s.error().text);
}

void Manager::expire_message(const std::string& id, int fd, const QueueFileInfo& info) {
  log::info("{}: from=<{}>, status=expired, returned to sender", id, info.sender);
  auto reasons = defer_reasons(queue_.path("defer", id));
  DeliverRequest req;
  req.queue_name = "active";
  req.queue_id = id;
  req.sender = info.sender;
  req.arrival_us = static_cast<long long>(info.arrival_sec) * 1000000 + info.arrival_usec;
  req.active_us = req.handoff_us = now_us();
  StatusReporter self(req, fd, queue_, "none", false);
  // Re-read: agents marked what they finished.
  auto now_info = read_queue_file(fd, id);
  const QueueFileInfo& cur = now_info ? *now_info : info;
  for (const auto& q : cur.recipients) {
    if (q.done()) continue;
    DeliverRecipient r{q.orig, q.address, q.offset, q.dsn_orcpt, q.notify_flags};
    auto it = reasons.find(q.offset);
    std::string why = it != reasons.end() ? it->second : "message expired";
    self.bounce(r, DsnResult{"5.4.7", "failed", why, "", "", "", ""});
  }
  finish_message(id, info, self.reply().status != 0);
}

}  // namespace postern::qmgr
