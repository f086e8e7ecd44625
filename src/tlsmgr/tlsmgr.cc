// tlsmgr: the TLS session ticket key service (private/tlsmgr).
//
// Every smtpd process asks for the current key when it starts, so a
// session ticket issued by one process resumes in any other (Postfix's
// tlsmgr does the same with its "tktkey" request). Protocol (attribute
// lists, NUL encoding, as the other internal services):
//   request=tktkey keyname=      -> status=0 keybuf=<160 hex digits>
//   request=update cache_type=smtpd cache_id=<hex> session=<hex>  -> status=0
//   request=lookup cache_type=smtpd cache_id=<hex>  -> status=0 session=<hex> | status=-1
//   request=delete cache_type=smtpd cache_id=<hex>  -> status=0 | status=-1
//   anything else                -> status=-1
// The session cache (smtpd_tls_session_cache_database) is kept in memory
// for smtpd_tls_session_cache_timeout: sessions offered by ID (TLS 1.2
// clients without tickets) resume in any smtpd process.
// The key is made from OpenSSL's random generator when tlsmgr starts and
// replaced after smtpd_tls_session_cache_timeout (tickets under the old
// key then get a full handshake). It is never written to disk.
#include <openssl/rand.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>

#include "global/attr.h"
#include "global/config.h"
#include "global/mail_server.h"
#include "util/log.h"
#include "util/stream.h"
#include "util/strings.h"

using namespace postern;

namespace {

std::string current_key;
time_t key_made = 0;
long key_lifetime = 3600;

// The key to hand out now: a fresh one when none exists or it is too old.
const std::string& ticket_key() {
  time_t now = time(nullptr);
  if (current_key.empty() || (key_lifetime > 0 && now - key_made >= key_lifetime)) {
    unsigned char buf[80];
    if (RAND_bytes(buf, sizeof buf) != 1) log::fatal("cannot make a TLS session ticket key");
    current_key.assign(reinterpret_cast<char*>(buf), sizeof buf);
    key_made = now;
    log::debug("new TLS session ticket key");
  }
  return current_key;
}

// smtpd_tls_session_cache_database: server sessions by session ID (hex),
// in memory, for smtpd_tls_session_cache_timeout, at most kMaxSessions.
struct Cached {
  std::string session;  // hex DER
  time_t expires;
};
std::map<std::string, Cached> sessions;
constexpr size_t kMaxSessions = 20000;

void expire_sessions(time_t now) {
  for (auto it = sessions.begin(); it != sessions.end();)
    it = it->second.expires <= now ? sessions.erase(it) : std::next(it);
}

AttrList answer(const AttrList& req) {
  std::string_view request = req.str("request");
  if (request == "update" || request == "lookup" || request == "delete") {
    std::string id(req.str("cache_type"));
    id += ":";
    id += req.str("cache_id");
    time_t now = time(nullptr);
    if (request == "update") {
      if (sessions.size() >= kMaxSessions) expire_sessions(now);
      if (sessions.size() >= kMaxSessions) sessions.erase(sessions.begin());
      sessions[id] = Cached{std::string(req.str("session")), now + std::max(key_lifetime, 1L)};
      return AttrList{{"status", "0"}};
    }
    auto it = sessions.find(id);
    if (it == sessions.end() || it->second.expires <= now) {
      if (it != sessions.end()) sessions.erase(it);
      return AttrList{{"status", "-1"}};
    }
    if (request == "delete") {
      sessions.erase(it);
      return AttrList{{"status", "0"}};
    }
    AttrList out;
    out.add("status", 0);
    out.add("session", it->second.session);
    return out;
  }
  if (request == "tktkey") {
    AttrList out;
    out.add("status", 0);
    out.add("keybuf", hex_lower(ticket_key()));
    return out;
  }
  log::warn("unknown request: \"{}\"", printable(request));
  return AttrList{{"status", "-1"}};
}

void serve(UniqueFd fd, ServiceContext& ctx, std::function<void()> done) {
  int raw = fd.get();
  auto stream = std::make_shared<Stream>(Stream::from_fd(std::move(fd)));
  stream->set_timeout(std::chrono::seconds(ctx.ipc_timeout()));
  ctx.loop().watch_read(raw, [stream, raw, &ctx, done] {
    do {
      auto req = attr_read(*stream, AttrEncoding::kNul);
      if (!req) {
        ctx.loop().unwatch(raw);
        done();
        return;
      }
      attr_write(*stream, AttrEncoding::kNul, answer(*req));
    } while (stream->has_buffered_input());
    if (!stream->flush()) {
      ctx.loop().unwatch(raw);
      done();
    }
  });
}

void init(ServiceContext& ctx) {
  auto t = ctx.cfg().time_value("smtpd_tls_session_cache_timeout");
  if (t) key_lifetime = static_cast<long>(*t);
  // Keys live at least as long as the tickets made with them are honoured.
  if (key_lifetime > 0 && key_lifetime < 60) key_lifetime = 60;
}

}  // namespace

int main(int argc, char** argv) {
  ServiceHooks hooks;
  hooks.pre_init = init;
  hooks.persistent = true;
  return multi_server_main(argc, argv, "tlsmgr", serve, hooks);
}
