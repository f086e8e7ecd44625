#include "qmgr/manager.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "global/rec_type.h"
#include "global/record.h"
#include "global/resolve_reply.h"
#include "qmgr/agent_call.h"
#include "qmgr/schedule.h"
#include "util/log.h"
#include "util/socket.h"

namespace postern::qmgr {

namespace {

DsnResult dsn(std::string status, std::string reason) {
  DsnResult d;
  d.status = std::move(status);
  d.reason = std::move(reason);
  return d;
}

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

// The fast flush service's "add" request (flush/flush_client.h, without
// linking the table code into qmgr); failures are only logged.
void flush_add_request(const std::string& socket, const std::string& site, const std::string& id) {
  auto fd = connect_unix(socket, Clock::now() + std::chrono::seconds(10));
  if (!fd) {
    log::warn("connect to public/flush: {}", fd.error().text);
    return;
  }
  Stream s = Stream::from_fd(std::move(*fd));
  s.set_timeout(std::chrono::seconds(30));
  if (auto ok = attr_expect_protocol(s, AttrEncoding::kNul, "queue_flush_protocol"); !ok) {
    log::warn("public/flush: {}", ok.error().text);
    return;
  }
  auto reply = attr_request(s, AttrEncoding::kNul,
                            AttrList{{"request", "add"}, {"site", site}, {"queue_id", id}});
  if (!reply) log::warn("public/flush: {}", reply.error().text);
}

}  // namespace

Settings Settings::from_config(const Config& cfg) {
  Settings s;
  s.min_backoff = cfg.get_time("minimal_backoff_time");
  s.max_backoff = cfg.get_time("maximal_backoff_time");
  s.queue_run_delay = cfg.get_time("queue_run_delay");
  s.max_lifetime = cfg.get_time("maximal_queue_lifetime");
  s.bounce_lifetime = cfg.get_time("bounce_queue_lifetime");
  s.active_limit = std::max<long long>(1, cfg.get_int("qmgr_message_active_limit"));
  s.rcpt_limit = std::max<long long>(1, cfg.get_int("qmgr_message_recipient_limit"));
  s.rcpt_minimum = std::max<long long>(1, cfg.get_int("qmgr_message_recipient_minimum"));
  s.initial_concurrency = std::max<long long>(1, cfg.get_int("initial_destination_concurrency"));
  s.defer_transports = cfg.get_list("defer_transports");
  s.max_running = std::max<long long>(1, cfg.get_int("default_process_limit"));
  s.dead_time = std::max<long>(1, std::min(s.min_backoff, 60L));
  s.agent_timeout = std::chrono::seconds(std::max<long long>(cfg.get_time("ipc_timeout"), 60));
  return s;
}

Manager::Manager(const Config& cfg, MailQueue queue, EventLoop& loop)
    : cfg_(cfg), queue_(std::move(queue)), s_(Settings::from_config(cfg)), loop_(loop),
      // trivial-rewrite answers at once or is not running: a stalled
      // resolver must not hold the queue manager for $ipc_timeout.
      rewrite_(cfg.get("queue_directory") + "/private/" + cfg.get("rewrite_service_name"),
               std::chrono::seconds(std::min<long long>(cfg.get_time("ipc_timeout"), 60))),
      // Deliveries at once plus bounce service requests.
      pool_(static_cast<size_t>(s_.max_running) + 20) {
  incoming_scan_.queue = "incoming";
  deferred_scan_.queue = "deferred";
  deferred_scan_.check_due = true;
  // Without the table code (qmgr stays small): a table in the list makes
  // every site a candidate, and the flush service decides.
  TableLookup undecided = [](std::string_view, std::string_view, bool) -> Result<std::string> {
    return fail(Errc::kTemporary, "not looked up in qmgr");
  };
  if (auto l = MatchList::from_config(cfg, "fast_flush_domains", undecided); l)
    flush_domains_ = std::move(*l);
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) log::fatal("pipe: {}", std::strerror(errno));
  pipe_read_ = UniqueFd(p[0]);
  pipe_write_ = UniqueFd(p[1]);
  loop_.watch_read(pipe_read_.get(), [this] { drain_done(); });
}

Manager::~Manager() { loop_.unwatch(pipe_read_.get()); }

void Manager::recover_active() {
  auto ids = queue_.scan("active");
  if (!ids) return;
  for (const auto& id : *ids) {
    if (auto s = queue_.move("active", "incoming", id); !s)
      log::warn("{}: cannot move from active to incoming: {}", id, s.error().text);
    else
      recovered_.insert(id);
  }
}

long Manager::transport_limit(const std::string& transport, std::string_view suffix,
                              std::string_view fallback) const {
  std::string name = transport + std::string(suffix);
  if (auto it = limits_.find(name); it != limits_.end()) return it->second;
  long value = static_cast<long>(cfg_.get_int(fallback));
  if (cfg_.raw(name)) {
    if (auto v = cfg_.int_value(name); v) value = static_cast<long>(*v);
  }
  limits_.emplace(name, value);  // main.cf does not change under a running qmgr
  return value;
}

Result<ResolveReply> Manager::resolve(const std::string& sender, const std::string& address,
                                      bool probe) {
  // A short-lived cache: the same recipients come again and again in a
  // busy queue, and each answer is a round trip to trivial-rewrite. The
  // time limit bounds how long a changed table goes unnoticed.
  constexpr time_t kTtl = 10;
  constexpr size_t kMax = 2000;
  time_t now = ::time(nullptr);
  std::string key = (probe ? "v" : "r") + sender + '\0' + address;
  if (auto it = resolved_.find(key); it != resolved_.end()) {
    if (now - it->second.first < kTtl && now >= it->second.first) return it->second.second;
    resolved_.erase(it);
  }
  // Address probes resolve through the verify class (address_verify_*).
  auto rr = rewrite_.resolve(sender, address, probe ? "verify" : "resolve");
  if (rr && !(rr->flags & kResolveFail)) {
    if (resolved_.size() >= kMax) resolved_.clear();
    resolved_.emplace(std::move(key), std::make_pair(now, *rr));
  }
  return rr;
}

void Manager::run(bool incoming, bool deferred, bool all) {
  if (incoming) start_scan(incoming_scan_, all);
  if (deferred) start_scan(deferred_scan_, all);
  // Feeding happens from the loop: a burst of triggers costs one scan.
  schedule_feed();
}

void Manager::start_scan(Scan& sc, bool all) {
  if (sc.pos < sc.ids.size()) {
    sc.rescan = true;
    sc.rescan_all = sc.rescan_all || all;
    return;
  }
  auto ids = queue_.scan(sc.queue);
  sc.ids = ids ? std::move(*ids) : std::vector<std::string>{};
  sc.pos = 0;
  sc.all = all;
}

bool Manager::next_ready(Scan& sc, time_t now, std::string* id, int* budget) {
  for (;;) {
    if (*budget <= 0) return false;  // more next turn (schedule_feed)
    if (sc.pos >= sc.ids.size()) {
      if (!sc.rescan) {
        sc.ids.clear();
        sc.pos = 0;
        return false;
      }
      bool all = sc.rescan_all;
      sc.rescan = sc.rescan_all = false;
      sc.ids.clear();
      start_scan(sc, all);
      if (sc.ids.empty()) return false;
    }
    const std::string& cand = sc.ids[sc.pos++];
    --*budget;
    if (messages_.count(cand)) continue;
    struct stat st;
    std::string path = queue_.path(sc.queue, cand);
    if (::stat(path.c_str(), &st) != 0) continue;
    if (!queue_file_complete(st.st_mode)) continue;  // still being written
    if (!sc.all) {
      if (sc.check_due && st.st_mtime > now) continue;
      if (!sc.check_due && st.st_mtime > now + 1) continue;
    }
    if (auto s = queue_.move(sc.queue, "active", cand); !s) {
      log::warn("{}: cannot move to active: {}", cand, s.error().text);
      continue;
    }
    *id = cand;
    return true;
  }
}

bool Manager::room() const {
  return static_cast<long>(messages_.size()) < s_.active_limit && rcpts_in_memory_ < s_.rcpt_limit;
}

void Manager::feed() {
  // A few messages per turn of the event loop, alternating between the
  // queues, so results of deliveries are taken in between: a long queue
  // starts delivering at once instead of after it was all read. While
  // enough deliveries wait for an agent, one per turn: the agents are kept
  // busy without reading the whole queue into memory ahead of them.
  const int kBatch = waiting_jobs_ < 200 ? 10 : 1;
  feed_scheduled_ = false;
  time_t now = ::time(nullptr);
  int loaded = 0;
  int budget = 1000;  // files looked at per turn (most of deferred/ is not due)
  bool more = true;
  while (more && loaded < kBatch) {
    more = false;
    for (Scan* sc : {&incoming_scan_, &deferred_scan_}) {
      if (!room()) break;
      std::string id;
      if (next_ready(*sc, now, &id, &budget)) {
        load_message(id, sc->check_due);
        ++loaded;
        more = true;
      }
    }
  }
  dispatch();
  schedule_feed();
}

void Manager::schedule_feed() {
  bool waiting = incoming_scan_.pos < incoming_scan_.ids.size() || incoming_scan_.rescan ||
                 deferred_scan_.pos < deferred_scan_.ids.size() || deferred_scan_.rescan;
  if (feed_scheduled_ || !waiting || !room()) return;
  feed_scheduled_ = true;
  loop_.add_timer(std::chrono::milliseconds(0), [this] { feed(); });
}

void Manager::load_message(const std::string& id, bool from_deferred) {
  auto m = std::make_unique<Message>();
  m->id = id;
  std::string path = queue_.path("active", id);
  m->fd = UniqueFd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!m->fd) {
    if (errno != ENOENT) log::warn("{}: open {}: {}", id, path, std::strerror(errno));
    return;
  }
  if (::flock(m->fd.get(), LOCK_EX | LOCK_NB) != 0) {
    log::info("{}: skipped, still being delivered", id);
    if (queue_.move("active", "incoming", id)) recovered_.insert(id);
    return;
  }
  struct stat st;
  if (::fstat(m->fd.get(), &st) != 0) return;
  m->mode = st.st_mode;
  auto info = read_queue_file(m->fd.get(), id);
  if (!info || !info->size || !info->has_end) {
    if (!info) log::warn("{}", info.error().text);
    (void)queue_.save_corrupt("active", id);
    return;
  }
  const QueueFileInfo& qi = *info;
  m->arrival_sec = qi.arrival_sec;
  m->warning_time = qi.warning_time;
  log::info("{}: from=<{}>, size={}, nrcpt={} (queue active)", id, qi.sender,
            qi.size->content_size, qi.size->rcpt_count);
  // A new attempt starts with a fresh defer log (Postfix resets it too).
  // Only deferred mail, or mail an earlier qmgr had in active/, has one.
  if (from_deferred || recovered_.erase(id)) (void)::unlink(queue_.path("defer", id).c_str());
  ::flock(m->fd.get(), LOCK_UN);

  DeliverRequest& base = m->base;
  base.queue_name = "active";
  base.queue_id = id;
  base.data_offset = qi.content_offset;
  base.data_size = qi.size->content_size;
  base.smtputf8 = static_cast<int>(qi.size->smtputf8);
  base.sender = qi.sender;
  base.encoding = qi.attr("encoding").value_or("");
  base.envelope_id = qi.attr("envelope_id").value_or("");
  base.ret_flags = std::atoi(qi.attr("ret_flags").value_or("0").c_str());
  base.arrival_us = static_cast<long long>(qi.arrival_sec) * 1000000 + qi.arrival_usec;
  base.active_us = now_us();
  base.client_name = qi.attr("client_name").value_or("");
  base.client_addr = qi.attr("client_address").value_or("");
  base.rewrite_context = qi.attr("rewrite_context").value_or("local");
  // Address probes and sendmail -bv (kDeliverFlagVerify/UserVerify).
  base.flags = std::atoi(qi.attr("trace_flags").value_or("0").c_str()) & kDeliverTraceFlagsMask;
  m->self = std::make_unique<StatusReporter>(m->base, m->fd.get(), queue_, "none",
                                             cfg_.get_bool("soft_bounce"));
  Message& msg = *m;
  messages_[id] = std::move(m);
  load_slice(msg, qi, msg.fd.get());
  // Keep no descriptor per message in memory (there may be thousands);
  // slices, expiry and the warning update open the file again.
  msg.self->set_queue_fd(-1);
  msg.fd.reset();
  if (msg.pending == 0) finish_message(msg);
}

void Manager::load_slice(Message& m, const QueueFileInfo& qi, int fd) {
  m.self->set_queue_fd(fd);
  const std::string& id = m.id;
  for (;;) {
    Slice slice = next_slice(qi.recipients.size(), m.next_rcpt, s_.rcpt_limit - rcpts_in_memory_,
                             s_.rcpt_minimum, [&](size_t i) { return qi.recipients[i].done(); });
    m.next_rcpt = slice.next;
    m.more = slice.more;
    std::vector<Routed> routed;
    std::map<size_t, DeliverRecipient> resolved;
    std::vector<DeliverRecipient> deferred_here;
    bool resolver_down = false;
    for (size_t i : slice.indexes) {
      const auto& q = qi.recipients[i];
      DeliverRecipient r{q.orig, q.address, q.offset, q.dsn_orcpt, q.notify_flags};
      auto rr = resolver_down ? Result<ResolveReply>(fail(Errc::kTemporary, "resolver down"))
                              : resolve(qi.sender, q.address, m.base.flags & kDeliverFlagVerify);
      if (!rr) resolver_down = true;  // do not wait again for each recipient
      if (!rr || (rr->flags & kResolveFail)) {
        m.self->defer(r, dsn("4.3.0", "address resolver failure"));
        deferred_here.push_back(r);
        m.deferred = true;
        continue;
      }
      if (rr->flags & kResolveError) {
        m.self->bounce(r, dsn("5.1.3", "bad address syntax"));
        continue;
      }
      r.address = rr->recipient;
      // content_filter / FILTER: every recipient goes to the filter's
      // transport, to its next hop when it names one.
      if (!qi.content_filter.empty()) {
        auto colon = qi.content_filter.find(':');
        std::string filter_nexthop =
            colon == std::string::npos ? std::string() : qi.content_filter.substr(colon + 1);
        rr->transport = qi.content_filter.substr(0, colon);
        if (!filter_nexthop.empty()) rr->nexthop = filter_nexthop;
      }
      if (std::find(s_.defer_transports.begin(), s_.defer_transports.end(), rr->transport) !=
          s_.defer_transports.end()) {
        m.self->defer(r, dsn("4.3.2", "deferred transport"));
        deferred_here.push_back(r);
        m.deferred = true;
        continue;
      }
      resolved[i] = std::move(r);
      routed.push_back(Routed{rr->transport, rr->nexthop, i});
    }

    auto batches = make_batches(routed, [this](const std::string& t) {
      return transport_limit(t, "_destination_recipient_limit", "default_destination_recipient_limit");
    });
    time_t now = ::time(nullptr);
    for (const auto& b : batches) {
      std::string key = b.transport + ":" + b.nexthop;
      auto dead = dead_.find(key);
      if (dead != dead_.end() && dead->second.first <= now) dead_.erase(dead), dead = dead_.end();
      if (dead != dead_.end()) {
        for (size_t i : b.indexes) {
          m.self->defer(resolved[i],
                        dsn("4.4.1", "delivery temporarily suspended: " + dead->second.second));
          deferred_here.push_back(resolved[i]);
        }
        m.deferred = true;
        continue;
      }
      Job job{id, {}};
      job.req.nexthop = b.nexthop;
      job.req.transport = b.transport;
      for (size_t i : b.indexes) job.req.recipients.push_back(resolved[i]);
      auto [it, fresh] = dests_.try_emplace(key);
      if (fresh) {
        it->second.window = std::min(
            s_.initial_concurrency,
            std::max(1L, transport_limit(b.transport, "_destination_concurrency_limit",
                                         "default_destination_concurrency_limit")));
        // <transport>_destination_rate_delay: one delivery at a time, spaced.
        std::string rate_name = b.transport + "_destination_rate_delay";
        auto rate = cfg_.raw(rate_name) ? cfg_.time_value(rate_name)
                                        : cfg_.time_value("default_destination_rate_delay");
        it->second.rate_delay = rate ? static_cast<long>(*rate) : 0;
        if (it->second.rate_delay > 0) it->second.window = 1;
        dest_order_.push_back(key);
      }
      rcpts_in_memory_ += static_cast<long>(job.req.recipients.size());
      it->second.waiting.push_back(std::move(job));
      ++waiting_jobs_;
      ++m.pending;
    }
    if (!deferred_here.empty()) notify_flush(id, deferred_here);
    if (m.pending > 0 || !m.more) break;
  }
  m.self->set_queue_fd(-1);
}

void Manager::job_done(Message& m, size_t recipients) {
  rcpts_in_memory_ -= static_cast<long>(recipients);
  if (--m.pending > 0) return;
  if (m.more) {
    // The next slice: agents marked what they finished in the file.
    UniqueFd fd(::open(queue_.path("active", m.id).c_str(), O_RDWR | O_CLOEXEC));
    auto qi = fd ? read_queue_file(fd.get(), m.id)
                 : Result<QueueFileInfo>(fail(Errc::kIo, std::strerror(errno)));
    if (!qi) {
      log::warn("{}: cannot read the next recipients: {}", m.id, qi.error().text);
      m.deferred = true;  // the file stays; the rest is tried later
      m.more = false;
    } else {
      load_slice(m, *qi, fd.get());
      if (m.pending > 0) return;
    }
  }
  finish_message(m);
}

void Manager::notify_flush(const std::string& id, const std::vector<DeliverRecipient>& rcpts) {
  if (!flush_domains_ || flush_domains_->empty()) return;
  std::vector<std::string> sites;
  for (const auto& r : rcpts) {
    auto at = r.address.rfind('@');
    if (at == std::string::npos || at + 1 == r.address.size()) continue;
    std::string site = r.address.substr(at + 1);
    for (auto& c : site) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto [it, fresh] = flush_eligible_.try_emplace(site, false);
    if (fresh) {
      auto hit = flush_domains_->match_domain(site);
      it->second = !hit || *hit;
    }
    if (it->second && std::find(sites.begin(), sites.end(), site) == sites.end())
      sites.push_back(site);
  }
  if (sites.empty()) return;
  std::string socket = queue_.directory() + "/public/flush";
  pool_.submit([socket, id, sites] {
    for (const auto& site : sites) flush_add_request(socket, site, id);
  });
}

void Manager::dispatch() {
  // Round robin: one request per destination per pass, so each destination
  // gets its share whatever the size of the others' queues.
  bool progress = true;
  while (progress) {
    progress = false;
    for (const auto& key : dest_order_) {
      if (running_ >= s_.max_running) break;
      auto& d = dests_[key];
      if (d.waiting.empty() || d.active >= d.window) continue;
      if (d.rate_delay > 0) {
        time_t now = ::time(nullptr);
        if (now < d.next_ok) {
          if (!d.timer) {
            d.timer = true;
            loop_.add_timer(std::chrono::seconds(d.next_ok - now), [this, key] {
              auto it = dests_.find(key);
              if (it != dests_.end()) it->second.timer = false;
              dispatch();
            });
          }
          continue;
        }
        d.next_ok = now + d.rate_delay;
      }
      Job job = std::move(d.waiting.front());
      d.waiting.pop_front();
      --waiting_jobs_;
      start_job(key, std::move(job));
      progress = true;
    }
  }
  // Forget idle destinations.
  std::erase_if(dest_order_, [this](const std::string& key) {
    auto it = dests_.find(key);
    if (it->second.waiting.empty() && it->second.active == 0 && !it->second.timer &&
        it->second.next_ok <= ::time(nullptr)) {
      dests_.erase(it);
      return true;
    }
    return false;
  });
}

void Manager::start_job(const std::string& key, Job job) {
  dests_[key].active++;
  running_++;
  // The request is the message's common part plus this job's own.
  DeliverRequest req = messages_[job.id]->base;
  req.handoff_us = now_us();
  req.transport = job.req.transport;
  req.nexthop = job.req.nexthop;
  req.recipients = job.req.recipients;
  std::string socket = queue_.directory() + "/private/" + job.req.transport;
  auto timeout = s_.agent_timeout;
  auto shared = std::make_shared<Job>(std::move(job));
  start_agent_call(loop_, socket, req, timeout,
                   [this, key, shared](Result<DeliverReply> reply) {
                     on_done(Done{key, std::move(*shared), std::move(reply)});
                     dispatch();
                     schedule_feed();
                   });
}

void Manager::post(Done done) {
  {
    std::lock_guard<std::mutex> lock(done_mutex_);
    done_.push_back(std::move(done));
  }
  char c = 1;
  (void)!::write(pipe_write_.get(), &c, 1);
}

void Manager::drain_done() {
  char buf[256];
  while (::read(pipe_read_.get(), buf, sizeof(buf)) > 0) {
  }
  std::vector<Done> batch;
  {
    std::lock_guard<std::mutex> lock(done_mutex_);
    batch.swap(done_);
  }
  for (auto& d : batch) on_done(std::move(d));
  dispatch();
  schedule_feed();
}

void Manager::defer_waiting(const std::string& key, const std::string& why) {
  auto it = dests_.find(key);
  if (it == dests_.end()) return;
  auto waiting = std::move(it->second.waiting);
  it->second.waiting.clear();
  waiting_jobs_ -= static_cast<long>(waiting.size());
  for (auto& job : waiting) {
    auto m = messages_.find(job.id);
    if (m == messages_.end()) continue;
    for (const auto& r : job.req.recipients)
      m->second->self->defer(r, dsn("4.4.1", "delivery temporarily suspended: " + why));
    notify_flush(job.id, job.req.recipients);
    m->second->deferred = true;
    job_done(*m->second, job.req.recipients.size());
  }
}

void Manager::on_done(Done done) {
  running_--;
  if (done.key.empty()) {
    if (!done.reply.error().text.empty()) log::warn("{}", done.reply.error().text);
    auto it = messages_.find(done.job.id);
    if (it != messages_.end()) complete_message(*it->second, done.flush_ok, done.warned);
    return;
  }
  auto& dest = dests_[done.key];
  dest.active--;
  auto mit = messages_.find(done.job.id);
  if (mit == messages_.end()) return;
  Message& m = *mit->second;
  const auto& req = done.job.req;
  if (!done.reply) {
    log::warn("connect to transport private/{}: {}", req.transport, done.reply.error().text);
    std::string why = "mail transport unavailable";
    if (dest.window > 1) dest.window--;  // negative feedback
    dead_[done.key] = {::time(nullptr) + s_.dead_time, why};
    for (const auto& r : req.recipients) m.self->defer(r, dsn("4.3.0", why));
    notify_flush(m.id, req.recipients);
    m.deferred = true;
    defer_waiting(done.key, why);
  } else {
    std::map<off_t, RcptOutcome> got(done.reply->outcomes.begin(), done.reply->outcomes.end());
    bool all_sent = done.reply->status == 0;
    std::vector<DeliverRecipient> deferred;
    for (const auto& r : req.recipients) {
      auto it = got.find(r.offset);
      // A recipient the agent did not report stays pending.
      if (it == got.end() || it->second == RcptOutcome::kDeferred) {
        m.deferred = true;
        all_sent = false;
        deferred.push_back(r);
      }
    }
    if (!deferred.empty()) notify_flush(m.id, deferred);
    if (done.reply->status != 0) m.deferred = true;
    if (!done.reply->dsn_status.empty() && done.reply->dsn_status[0] == '4') {
      if (dest.window > 1) dest.window--;  // negative feedback
      dead_[done.key] = {::time(nullptr) + s_.dead_time, done.reply->reason};
      defer_waiting(done.key, done.reply->reason);
    } else if (all_sent) {
      long limit = std::max(1L, transport_limit(req.transport, "_destination_concurrency_limit",
                                                "default_destination_concurrency_limit"));
      if (dest.window < limit) dest.window++;
    }
  }
  job_done(m, req.recipients.size());
}

void Manager::remove_logs(const std::string& id, bool bounce_trace) {
  for (std::string_view q : {"defer", "bounce", "trace"}) {
    if (!bounce_trace && q != "defer") continue;
    std::string p = queue_.path(q, id);
    (void)::unlink(p.c_str());
  }
}

bool Manager::status_request(const std::string& id, std::string_view nrequest, std::string* why,
                             int flags) {
  // Ask the bounce service to return the bounced recipients to the sender.
  std::string socket = queue_.directory() + "/private/" + cfg_.get("bounce_service_name");
  auto fd = connect_unix(socket, Clock::now() + std::chrono::seconds(30));
  if (!fd) {
    *why = fmt::format("{}: bounce service {}: {}", id, socket, fd.error().text);
    return false;
  }
  Stream s = Stream::from_fd(std::move(*fd));
  s.set_timeout(std::chrono::seconds(10));
  if (auto ok = attr_expect_protocol(s, AttrEncoding::kNul, "delivery_status_protocol"); !ok) {
    *why = fmt::format("{}: bounce service: {}", id, ok.error().text);
    return false;
  }
  s.set_timeout(std::chrono::seconds(300));
  AttrList req{{"nrequest", std::string(nrequest)}};
  req.add("flags", flags).add("queue_name", "active").add("queue_id", id);
  auto reply = attr_request(s, AttrEncoding::kNul, req);
  if (!reply || reply->number_or("status", 1) != 0) {
    *why = fmt::format("{}: bounce service failed{}", id, reply ? std::string() : ": " + reply.error().text);
    return false;
  }
  return true;
}

void Manager::finish_message(Message& m) {
  std::string id = m.id;
  long age = static_cast<long>(::time(nullptr) - m.arrival_sec);
  bool forced = (m.mode & kQueueModeExpired) != 0;
  if (m.deferred && message_expired(age, m.base.sender.empty(), s_.max_lifetime,
                                    s_.bounce_lifetime, forced)) {
    expire_message(m);
  }
  time_t now = ::time(nullptr);
  bool need_flush = ::access(queue_.path("bounce", id).c_str(), F_OK) == 0;
  bool need_trace = ::access(queue_.path("trace", id).c_str(), F_OK) == 0;
  bool need_warn = m.deferred && m.warning_time > 0 && now >= m.warning_time &&
                   !m.base.sender.empty();
  if (!need_flush && !need_warn && !need_trace) {
    m.no_bounce_trace = true;  // no bounce/ or trace/ log to remove
    complete_message(m, true, false);
    return;
  }
  running_++;
  int trace_flags = m.base.flags;  // sendmail -bv: a delivery report (verify.md)
  pool_.submit([this, id, need_flush, need_warn, need_trace, trace_flags] {
    std::string why;
    bool ok = need_flush ? status_request(id, "flush", &why) : true;
    if (need_trace && !status_request(id, "trace", &why, trace_flags)) ok = false;
    std::string warn_why;
    bool warned = need_warn && status_request(id, "warn", &warn_why);
    if (why.empty()) why = warn_why;
    Done d{"", Job{id, {}}, fail(Errc::kTemporary, why), ok, warned};
    post(std::move(d));
  });
}

void Manager::clear_warning_time(Message& m) {
  // The W record holds %15ld; a delay warning is sent once.
  UniqueFd fd(::open(queue_.path("active", m.id).c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    log::warn("{}: cannot update the warning time: {}", m.id, std::strerror(errno));
    return;
  }
  RecordReader reader(fd.get(), m.id, 1 << 20, RecordReader::Mode::kFollowPointers);
  for (;;) {
    auto rec = reader.next();
    if (!rec || !*rec || (*rec)->type == rec::kMessage) return;
    if ((*rec)->type == rec::kWarn) {
      off_t payload = (*rec)->offset + static_cast<off_t>(record_size((*rec)->data.size()) - (*rec)->data.size());
      std::string zero = fmt::format("{:15d}", 0);
      if (zero.size() != (*rec)->data.size() ||
          ::pwrite(fd.get(), zero.data(), zero.size(), payload) != static_cast<ssize_t>(zero.size()))
        log::warn("{}: cannot update the warning time", m.id);
      return;
    }
  }
}

void Manager::complete_message(Message& m, bool bounces_ok, bool warned) {
  std::string id = m.id;
  if (warned) clear_warning_time(m);
  long age = static_cast<long>(::time(nullptr) - m.arrival_sec);
  bool deferred = m.deferred || !bounces_ok;
  if (!deferred) {
    if (auto s = queue_.remove("active", id); !s) {
      log::warn("{}: remove: {}", id, s.error().text);
    } else {
      remove_logs(id, !m.no_bounce_trace);
      log::info("{}: removed", id);
    }
  } else {
    time_t now = ::time(nullptr);
    long delay = backoff_delay(age, s_.min_backoff, s_.max_backoff);
    struct timeval tv[2];
    tv[0].tv_sec = tv[1].tv_sec = now + delay;
    tv[0].tv_usec = tv[1].tv_usec = 0;
    std::string path = queue_.path("active", id);
    if (::utimes(path.c_str(), tv) != 0)
      log::warn("{}: set retry time: {}", id, std::strerror(errno));
    if (auto s = queue_.move("active", "deferred", id); !s)
      log::warn("{}: move to deferred: {}", id, s.error().text);
  }
  messages_.erase(id);  // m is gone from here on
}

void Manager::expire_message(Message& m) {
  log::info("{}: from=<{}>, status=expired, returned to sender", m.id, m.base.sender);
  auto reasons = defer_reasons(queue_.path("defer", m.id));
  // Re-read: agents marked what they finished.
  UniqueFd fd(::open(queue_.path("active", m.id).c_str(), O_RDWR | O_CLOEXEC));
  auto now_info = fd ? read_queue_file(fd.get(), m.id)
                     : Result<QueueFileInfo>(fail(Errc::kIo, "cannot open queue file"));
  if (!now_info) {
    // Nothing is returned blind: the file stays deferred for the next try.
    log::warn("{}: cannot return expired mail: {}", m.id, now_info.error().text);
    return;
  }
  const QueueFileInfo& cur = *now_info;
  DeliverRequest req = m.base;
  req.active_us = req.handoff_us = now_us();
  StatusReporter self(req, fd.get(), queue_, "none", false);
  for (const auto& q : cur.recipients) {
    if (q.done()) continue;
    DeliverRecipient r{q.orig, q.address, q.offset, q.dsn_orcpt, q.notify_flags};
    auto it = reasons.find(q.offset);
    self.bounce(r, dsn("5.4.7", it != reasons.end() ? it->second : "message expired"));
  }
  m.deferred = self.reply().status != 0;
}

}  // namespace postern::qmgr
