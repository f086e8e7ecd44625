// scache: the shared connection cache (master.cf "scache unix - - n - 1
// scache"). smtp/lmtp clients hand over open sessions with their
// descriptors and ask for them back by endpoint or destination label;
// global/scache_client.h describes the requests and the framing. Entries
// live at most connection_cache_ttl_limit seconds; every
// connection_cache_status_update_time the hit counts and maxima are logged
// as Postfix's scache logs them ("statistics: ...").
#include <cstdio>
#include <ctime>
#include <memory>

#include "global/mail_server.h"
#include "global/scache_client.h"
#include "scache/scache_table.h"
#include "util/strings.h"

using namespace postern;

namespace {

std::unique_ptr<ScacheTable> table;
int ttl_limit = 2;
time_t interval_start = 0;

int percent(long hits, long miss) {
  return hits + miss > 0 ? static_cast<int>(100 * hits / (hits + miss)) : 0;
}

std::string log_time(time_t t) {
  char buf[32];
  struct tm tm;
  ::localtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%b %e %H:%M:%S", &tm);
  return buf;
}

// Logs the statistics of the interval, if anything happened in it.
void log_statistics() {
  const ScacheStats& s = table->stats();
  if (s.dest_hits + s.dest_miss + s.endp_hits + s.endp_miss == 0 && s.max_sessions == 0) return;
  log::info("statistics: start interval {}", log_time(interval_start));
  log::info("statistics: domain lookup hits={} miss={} success={}%", s.dest_hits, s.dest_miss,
            percent(s.dest_hits, s.dest_miss));
  log::info("statistics: address lookup hits={} miss={} success={}%", s.endp_hits, s.endp_miss,
            percent(s.endp_hits, s.endp_miss));
  log::info("statistics: max simultaneous domains={} addresses={} connection={}", s.max_dests,
            s.max_endps, s.max_sessions);
}

void schedule_expiry(ServiceContext& ctx) {
  ctx.loop().add_timer(std::chrono::milliseconds(1000), [&ctx] {
    table->expire(::time(nullptr));
    schedule_expiry(ctx);
  });
}

void schedule_status(ServiceContext& ctx) {
  long long every = ctx.cfg().get_time("connection_cache_status_update_time");
  if (every <= 0) every = 600;
  ctx.loop().add_timer(std::chrono::milliseconds(every * 1000), [&ctx] {
    table->expire(::time(nullptr));
    log_statistics();
    table->reset_stats();
    interval_start = ::time(nullptr);
    schedule_status(ctx);
  });
}

// The TTL a client asked for, capped; 0 when it is not usable.
int capped_ttl(const AttrList& req) {
  long long ttl = req.number_or("ttl", 0);
  if (ttl <= 0) return 0;
  return static_cast<int>(std::min<long long>(ttl, ttl_limit));
}

// Answers one request; `fd` is the descriptor that came with it.
// Returns the reply and the descriptor to send back (if any).
std::pair<AttrList, UniqueFd> answer(const AttrList& req, UniqueFd fd) {
  time_t now = ::time(nullptr);
  std::string request(req.str("request"));
  std::string label(req.str("label"));
  AttrList out;
  if (label.empty()) {
    log::warn("missing label in \"{}\" request", printable(request));
    return {out.add("status", -1), UniqueFd()};
  }
  if (request == "save_endp") {
    int ttl = capped_ttl(req);
    if (!fd || ttl == 0) {
      log::warn("save_endp {}: {}", printable(label), fd ? "bad ttl" : "no descriptor");
      return {out.add("status", -1), UniqueFd()};
    }
    table->save_endp(label, std::string(req.str("property")), std::move(fd), ttl, now);
    log::debug("save_endp {} ttl {}", label, ttl);
    return {out.add("status", 0), UniqueFd()};
  }
  if (request == "find_endp") {
    auto s = table->find_endp(label, now);
    log::debug("find_endp {}: {}", label, s ? "found" : "not found");
    if (!s) return {out.add("status", -1), UniqueFd()};
    out.add("status", 0).add("property", s->endp_prop);
    return {out, std::move(s->fd)};
  }
  if (request == "save_dest") {
    int ttl = capped_ttl(req);
    std::string endp(req.str("endp_label"));
    if (ttl == 0 || endp.empty()) {
      log::warn("save_dest {}: {}", printable(label), ttl ? "no endpoint label" : "bad ttl");
      return {out.add("status", -1), UniqueFd()};
    }
    table->save_dest(label, std::string(req.str("property")), endp, ttl, now);
    log::debug("save_dest {} -> {} ttl {}", label, endp, ttl);
    return {out.add("status", 0), UniqueFd()};
  }
  if (request == "find_dest") {
    auto d = table->find_dest(label, now);
    log::debug("find_dest {}: {}", label, d ? "found" : "not found");
    if (!d) return {out.add("status", -1), UniqueFd()};
    out.add("status", 0).add("property", d->first).add("endp_property", d->second.endp_prop);
    return {out, std::move(d->second.fd)};
  }
  log::warn("unrecognized request: \"{}\", ignored", printable(request));
  return {out.add("status", -1), UniqueFd()};
}

void serve(UniqueFd client, ServiceContext& ctx, std::function<void()> done) {
  auto fd = std::make_shared<UniqueFd>(std::move(client));
  int raw = fd->get();
  long long t = ctx.cfg().get_time("connection_cache_protocol_timeout");
  auto timeout = std::chrono::seconds(t > 0 ? t : 5);
  ctx.loop().watch_read(raw, [fd, raw, timeout, &ctx, done] {
    auto finish = [&] {
      ctx.loop().unwatch(raw);
      fd->reset();
      done();
    };
    auto req = scache_read_frame(raw, Clock::now() + timeout);
    if (!req) {
      if (req.error().code != Errc::kEof) log::warn("read request: {}", req.error().text);
      return finish();
    }
    auto [reply, out_fd] = answer(req->attrs, std::move(req->fd));
    if (auto w = scache_write_frame(raw, reply, out_fd ? out_fd.get() : -1); !w) {
      log::warn("write reply: {}", w.error().text);
      return finish();
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  ServiceHooks hooks;
  hooks.post_init = [](ServiceContext& ctx) {
    table = std::make_unique<ScacheTable>();
    long long limit = ctx.cfg().get_time("connection_cache_ttl_limit");
    ttl_limit = limit > 0 ? static_cast<int>(limit) : 2;
    interval_start = ::time(nullptr);
    schedule_expiry(ctx);
    schedule_status(ctx);
  };
  return multi_server_main(argc, argv, "scache", serve, hooks);
}
