// virtual: delivers to mailboxes under virtual_mailbox_base, found through
// virtual_mailbox_maps (Maildir when the result ends with '/', else mbox),
// owned by virtual_uid_maps / virtual_gid_maps (at least
// virtual_minimum_uid). One delivery request per connection from qmgr.
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>

#include "global/deliver_agent.h"
#include "global/deliver_mailbox.h"
#include "maps/address_lookup.h"
#include "util/log.h"

using namespace postern;

namespace {

DsnResult dsn(std::string status, std::string reason) {
  DsnResult d;
  d.status = std::move(status);
  d.reason = std::move(reason);
  return d;
}

struct Tables {
  maps::MapList mailbox, uid, gid;
};

// Looks `address` up in `maps`; kNotFound, kTemporary or the value.
Result<std::string> lookup(maps::MapList& maps, const std::string& address, const Config& cfg) {
  maps::AddressLookupOptions opt;
  opt.recipient_delimiter = cfg.get("recipient_delimiter");
  return maps::find_address(maps, address, opt);
}

void deliver_one(AgentRequest& ar, Tables& t, const DeliverRecipient& r) {
  const Config& cfg = ar.ctx.cfg();
  // Tables are searched with the lower-cased address, as Postfix does.
  std::string key = r.address;
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto box = lookup(t.mailbox, key, cfg);
  if (!box) {
    if (box.error().code == Errc::kNotFound)
      ar.status.bounce(r, dsn("5.1.1", "unknown user: \"" + r.address + "\""));
    else
      ar.status.defer(r, dsn("4.3.0", "table lookup failure"));
    return;
  }
  auto uid_s = lookup(t.uid, key, cfg);
  auto gid_s = lookup(t.gid, key, cfg);
  if (!uid_s || !gid_s) {
    bool temp = (!uid_s && uid_s.error().code != Errc::kNotFound) ||
                (!gid_s && gid_s.error().code != Errc::kNotFound);
    std::string which = !uid_s ? "uid" : "gid";
    if (temp)
      ar.status.defer(r, dsn("4.3.0", "table lookup failure"));
    else
      ar.status.bounce(r, dsn("5.3.0", "recipient " + r.address + ": " + which + " not found in virtual_" + which + "_maps"));
    return;
  }
  char* end = nullptr;
  long uid = std::strtol(uid_s->c_str(), &end, 10);
  long gid = std::strtol(gid_s->c_str(), nullptr, 10);
  if (uid < cfg.get_int("virtual_minimum_uid") || *end != '\0') {
    ar.status.defer(r, dsn("4.3.5", "mail system configuration error"));
    log::warn("recipient {}: bad uid {} in virtual_uid_maps", r.address, *uid_s);
    return;
  }
  std::string base = cfg.get("virtual_mailbox_base");
  std::string path = base + "/" + *box;
  MailCopy m;
  m.queue_fd = ar.queue_fd;
  m.data_offset = ar.req.data_offset;
  m.sender = ar.req.sender;
  m.recipient = r.address;
  m.orig_recipient = cfg.get_bool("enable_original_recipient") ? r.orig : "";
  if (deliver_trace_only(ar.req.flags)) {
    // Address probes and sendmail -bv deliver nothing (verify.md).
    ar.status.sent(r, dsn("2.0.0", path.back() == '/' ? "delivers to maildir" : "delivers to mailbox"));
    return;
  }
  if (path.back() == '/') {
    auto res = as_user(static_cast<uid_t>(uid), static_cast<gid_t>(gid),
                       [&] { return deliver_maildir(path, m); });
    if (!res) {
      ar.status.fail(r, dsn(mailbox_status(res.error(), "4.2.0"),
                            "maildir delivery failed: " + res.error().text));
      return;
    }
    ar.status.sent(r, dsn("2.0.0", "delivered to maildir"));
  } else {
    std::string locks = cfg.get("virtual_mailbox_lock");
    bool dotlock = locks.find("dotlock") != std::string::npos;
    m.size_limit = static_cast<long>(cfg.get_int("virtual_mailbox_limit"));
    auto res = as_user(static_cast<uid_t>(uid), static_cast<gid_t>(gid),
                       [&] { return deliver_mbox(path, m, dotlock); });
    if (!res) {
      ar.status.fail(r, dsn(mailbox_status(res.error(), "4.2.0"),
                            "delivery failed to mailbox " + path + ": " + res.error().text));
      return;
    }
    ar.status.sent(r, dsn("2.0.0", "delivered to mailbox"));
  }
}

}  // namespace

int main(int argc, char** argv) {
  // The tables stay open across requests; a changed file makes the
  // process exit after the request so master starts a fresh one.
  static std::optional<Tables> tables;
  return deliver_agent_main(argc, argv, "virtual", [](AgentRequest& ar) {
    const Config& cfg = ar.ctx.cfg();
    bool ok = true;
    if (!tables) {
      Tables t;
      auto open = [&](const char* name, maps::MapList& out) {
        auto m = maps::MapList::open(name, cfg.get(name));
        if (!m) {
          log::warn("{}", m.error().text);
          return false;
        }
        out = std::move(*m);
        return true;
      };
      ok = open("virtual_mailbox_maps", t.mailbox) && open("virtual_uid_maps", t.uid) &&
           open("virtual_gid_maps", t.gid);
      if (ok) tables = std::move(t);
    }
    for (const auto& r : ar.req.recipients) {
      if (!ok) {
        ar.status.defer(r, dsn("4.3.0", "mail system configuration error"));
        continue;
      }
      deliver_one(ar, *tables, r);
    }
    if (tables && (tables->mailbox.changed() || tables->uid.changed() || tables->gid.changed())) {
      log::info("table has changed -- restarting");
      ar.ctx.request_exit();
    }
  });
}
