// verify: the address verification service (Postfix's verify(8)).
// smtpd asks it about addresses (reject_unverified_recipient/_sender);
// it answers from its cache (verify_cache.h) and, when the answer is
// missing or old, sends a probe message through cleanup: sender
// $address_verify_sender, one recipient, `A trace_flags=256`
// (kDeliverFlagVerify). qmgr and the delivery agents route the probe as
// usual but deliver nothing; each agent's StatusReporter sends the result
// back with an update request. Protocol: global/verify_client.h.
//
// The cache lives in $address_verify_map (btree:$data_directory/verify_cache
// by default; each entry is written through at once); with an empty
// address_verify_map it lives in this process's memory. The process never
// exits on max_use/max_idle (only on reload and stop).
#include <sys/time.h>
#include <time.h>

#include <map>
#include <memory>
#include <string>

#include "global/attr.h"
#include "global/cleanup_client.h"
#include "global/deliver_request.h"
#include "global/mail_date.h"
#include "global/mail_server.h"
#include "global/rec_type.h"
#include "global/verify_client.h"
#include "maps/map.h"
#include "util/log.h"
#include "verify/verify_cache.h"

using namespace postern;
using namespace postern::verify;

namespace {

class MemoryStore final : public CacheStore {
 public:
  Result<std::string> get(const std::string& key) override {
    auto it = entries_.find(key);
    if (it == entries_.end()) return fail(Errc::kNotFound, "not found");
    return it->second;
  }
  Status put(const std::string& key, const std::string& value) override {
    entries_[key] = value;
    return {};
  }
  Status del(const std::string& key) override {
    entries_.erase(key);
    return {};
  }
  Status each(const std::function<void(const std::string&, const std::string&)>& visit) override {
    for (const auto& [k, v] : entries_) visit(k, v);
    return {};
  }

 private:
  std::map<std::string, std::string> entries_;
};

// A lookup table opened for each operation, so every update is on disk
// (and survives a stop, a crash or a reload) before the reply goes out.
class MapStore final : public CacheStore {
 public:
  explicit MapStore(std::string spec) : spec_(std::move(spec)) {}
  Result<std::string> get(const std::string& key) override {
    auto m = maps::open_map(spec_, maps::kTryNull | maps::kTryNoNull);
    if (!m) {
      if (m.error().code == Errc::kNotFound) return fail(Errc::kNotFound, "not found");
      return std::unexpected(m.error());
    }
    return (*m)->lookup(key);
  }
  Status put(const std::string& key, const std::string& value) override {
    auto m = writer();
    if (!m) return std::unexpected(m.error());
    if (auto r = (*m)->update(key, value); !r) return std::unexpected(r.error());
    return (*m)->commit();
  }
  Status del(const std::string& key) override {
    auto m = writer();
    if (!m) return std::unexpected(m.error());
    (void)(*m)->remove(key);
    return (*m)->commit();
  }
  Status each(const std::function<void(const std::string&, const std::string&)>& visit) override {
    auto m = maps::open_map(spec_, maps::kTryNull | maps::kTryNoNull);
    if (!m) return m.error().code == Errc::kNotFound ? Status() : Status(std::unexpected(m.error()));
    return (*m)->sequence([&](std::string_view k, std::string_view v) {
      visit(std::string(k), std::string(v));
      return true;
    });
  }

 private:
  Result<maps::MapPtr> writer() {
    return maps::open_map(spec_, maps::kWrite | maps::kDupReplace | maps::kTryNull);
  }
  std::string spec_;
};

struct State {
  std::unique_ptr<CacheStore> store;
  std::unique_ptr<Cache> cache;
  std::string spec;      // what the cleanup log line calls the cache
  long sweep_every = 0;  // address_verify_cache_cleanup_interval (0: never)
  long next_sweep = 0;
};

State& state() {
  static State s;
  return s;
}

// The cleanup sweep, run between requests once its interval has passed.
void maybe_sweep(long now) {
  State& st = state();
  if (st.sweep_every <= 0 || now < st.next_sweep) return;
  st.next_sweep = now + st.sweep_every;
  auto n = st.cache->sweep(now);
  if (!n) {
    log::warn("cache {}: cleanup failed: {}", st.spec, n.error().text);
    return;
  }
  log::info("cache {} full cleanup: retained={} dropped={} entries", st.spec, n->retained,
            n->dropped);
}

CacheSettings settings_from(const Config& cfg) {
  CacheSettings s;
  s.positive_expire = cfg.get_time("address_verify_positive_expire_time");
  s.positive_refresh = cfg.get_time("address_verify_positive_refresh_time");
  s.negative_expire = cfg.get_time("address_verify_negative_expire_time");
  s.negative_refresh = cfg.get_time("address_verify_negative_refresh_time");
  s.negative_cache = cfg.get_bool("address_verify_negative_cache");
  return s;
}

// The probe's sender: $address_verify_sender ("" or "<>": the null
// sender); with address_verify_sender_ttl a time stamp is appended to
// the local part, as Postfix does, so the sender changes now and then.
std::string probe_sender(const Config& cfg) {
  std::string s = cfg.get("address_verify_sender");
  if (s.empty() || s == "<>") return "";
  long ttl = cfg.get_time("address_verify_sender_ttl");
  if (ttl > 0) {
    long stamp = (::time(nullptr) / ttl) % 0x7fffffff;
    std::string suffix = std::to_string(stamp);
    auto at = s.rfind('@');
    if (at == std::string::npos)
      s += suffix;
    else
      s.insert(at, suffix);
  }
  return s;
}

// Submits one probe message for `address`; true when cleanup queued it.
bool send_probe(const Config& cfg, std::string_view address) {
  auto client = CleanupClient::open_socket(
      cfg.get("queue_directory") + "/public/" + cfg.get("cleanup_service_name"),
      kCleanupFlagMapOk, std::chrono::seconds(60));
  if (!client) {
    log::warn("cannot send address probe for {}: {}", address, client.error().text);
    return false;
  }
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  Status s = client->record(rec::kTime, std::to_string(tv.tv_sec) + " " + std::to_string(tv.tv_usec));
  if (s) s = client->record(rec::kAttr, "rewrite_context=local");
  if (s) s = client->record(rec::kAttr, "trace_flags=" + std::to_string(kDeliverFlagVerify));
  if (s) s = client->record(rec::kSender, probe_sender(cfg));
  if (s) s = client->record(rec::kRecipient, address);
  if (s) s = client->record(rec::kMessage, "");
  // cleanup takes no message without a Received: header of its sender.
  if (s)
    s = client->content_line("Received: by " + cfg.get("myhostname") + " (" + cfg.get("mail_name") +
                             ")");
  if (s) s = client->content_line("\tid " + client->queue_id() + "; " + mail_date(tv.tv_sec));
  if (s) s = client->record(rec::kExtracted, "");
  if (!s) {
    log::warn("cannot send address probe for {}: {}", address, s.error().text);
    return false;
  }
  auto out = client->finish();
  if (!out || out->status != 0) {
    log::warn("address probe for {} rejected by cleanup: {}", address,
              out ? out->reason : out.error().text);
    return false;
  }
  return true;
}

AttrList serve(const Config& cfg, const AttrList& req) {
  std::string_view what = req.str("request");
  std::string address(req.str("address"));
  Cache& cache = *state().cache;
  long now = static_cast<long>(::time(nullptr));
  if (what == "query" && req.get("address")) {
    auto a = cache.query(address, now, [&](std::string_view addr) { return send_probe(cfg, addr); });
    AttrList out;
    out.add("status", kVerifyStatOk).add("recipient_status", a.status).add("reason", a.text);
    return out;
  }
  if (what == "update" && req.get("address")) {
    auto st = req.number("recipient_status");
    if (!st || *st < kVerifyOk || *st > kVerifyTodo) {
      log::warn("bad recipient status {} for recipient {}", req.str("recipient_status"), address);
      return AttrList{{"status", std::to_string(kVerifyStatBad)}};
    }
    if (auto s = cache.update(address, static_cast<int>(*st), req.str("reason"), now); !s) {
      log::warn("cannot update the address verification cache: {}", s.error().text);
      return AttrList{{"status", std::to_string(kVerifyStatFail)}};
    }
    return AttrList{{"status", std::to_string(kVerifyStatOk)}};
  }
  log::warn("unrecognized request: \"{}\", ignored", what);
  return AttrList{{"status", std::to_string(kVerifyStatBad)}};
}

}  // namespace

int main(int argc, char** argv) {
  ServiceHooks hooks;
  hooks.pre_init = [](ServiceContext& ctx) {
    const Config& cfg = ctx.cfg();
    std::string spec = cfg.get("address_verify_map");
    if (spec.empty())
      state().store = std::make_unique<MemoryStore>();
    else
      state().store = std::make_unique<MapStore>(spec);
    state().cache = std::make_unique<Cache>(*state().store, settings_from(cfg));
    state().spec = spec.empty() ? "internal:verify" : spec;
    state().sweep_every = cfg.get_time("address_verify_cache_cleanup_interval");
    state().next_sweep = static_cast<long>(::time(nullptr)) + state().sweep_every;
  };
  // A cache in memory must outlive max_use and max_idle; one on disk
  // loses nothing either way, so the service simply stays (reload and
  // stop still end it).
  hooks.persistent = true;
  return single_server_main(argc, argv, "verify", [](UniqueFd client, ServiceContext& ctx) {
    Stream s = Stream::from_fd(std::move(client));
    s.set_timeout(std::chrono::seconds(std::min(ctx.ipc_timeout(), 60)));
    attr_write(s, AttrEncoding::kNul, AttrList{{"protocol", std::string(kVerifyProtocol)}});
    if (!s.flush()) return;
    for (int n = 0; n < 100; ++n) {
      auto req = attr_read(s, AttrEncoding::kNul);
      if (!req) return;
      attr_write(s, AttrEncoding::kNul, serve(ctx.cfg(), *req));
      if (!s.flush()) return;
      maybe_sweep(static_cast<long>(::time(nullptr)));
    }
  }, hooks);
}
