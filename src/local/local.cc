// local: delivery for the local address class: alias_maps (recursive, with
// |command, /file and :include: targets), .forward files (forward_path),
// then the user's mailbox: mailbox_command, home_mailbox (Maildir/ or an
// mbox file under the home directory) or mail_spool_directory. Mail to
// addresses that aliases or .forward files name elsewhere is forwarded as
// a new message through cleanup ("forwarded as ID").
// mailbox_transport(_maps) and fallback_transport(_maps) hand a recipient
// to another delivery agent (private/<transport>) with the same delivery
// request protocol qmgr uses; that agent logs and records the result.
#include <pwd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fcntl.h>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "global/cleanup_client.h"
#include "global/deliver_request.h"
#include "global/deliver_agent.h"
#include "global/deliver_command.h"
#include "global/deliver_mailbox.h"
#include "global/mail_address.h"
#include "global/rec_type.h"
#include "maps/address_lookup.h"
#include "util/log.h"
#include "util/process.h"

using namespace postern;

namespace {

constexpr int kMaxDepth = 100;

DsnResult dsn(std::string status, std::string reason) {
  DsnResult d;
  d.status = std::move(status);
  d.reason = std::move(reason);
  return d;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Splits an alias or .forward value at top-level commas (and newlines),
// keeping "quoted text" together; items are trimmed, quotes kept off.
std::vector<std::string> split_targets(std::string_view v) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  auto push = [&] {
    size_t b = cur.find_first_not_of(" \t\r");
    size_t e = cur.find_last_not_of(" \t\r");
    if (b != std::string::npos) {
      std::string item = cur.substr(b, e - b + 1);
      if (item.size() >= 2 && item.front() == '"' && item.back() == '"')
        item = item.substr(1, item.size() - 2);
      if (!item.empty() && item[0] != '#') out.push_back(item);
    }
    cur.clear();
  };
  for (char c : v) {
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == ',' || c == '\n')) {
      push();
      continue;
    }
    cur += c;
  }
  push();
  return out;
}

bool list_has(const Config& cfg, std::string_view param, std::string_view what) {
  for (const auto& w : cfg.get_list(param))
    if (lower(w) == what) return true;
  return false;
}

// Expands $name and ${name} of local's own attributes in `text` (other
// $ text is left alone).
std::string expand_attrs(const std::string& text,
                         const std::vector<std::pair<std::string, std::string>>& vars) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool done = false;
    for (const auto& [name, value] : vars) {
      for (std::string form : {"${" + name + "}", "$" + name}) {
        if (text.compare(i, form.size(), form) == 0) {
          out += value;
          i += form.size();
          done = true;
          break;
        }
      }
      if (done) break;
    }
    if (!done) out += text[i++];
  }
  return out;
}

struct Owner {
  uid_t uid;
  gid_t gid;
  std::string home, name, shell;
};

class LocalDelivery {
 public:
  LocalDelivery(AgentRequest& ar) : ar_(ar), cfg_(ar.ctx.cfg()) {
    auto m = maps::MapList::open("alias_maps", cfg_.get("alias_maps"));
    if (m)
      aliases_ = std::move(*m);
    else {
      log::warn("{}", m.error().text);
      alias_error_ = true;
    }
    if (auto u = lookup_user(cfg_.get("default_privs")); u)
      privs_ = Owner{u->uid, u->gid, u->home, u->name, u->shell};
    else
      privs_ = Owner{::geteuid(), ::getegid(), "/", "nobody", "/bin/sh"};
  }

  void deliver(const DeliverRecipient& r) {
    visited_.clear();
    sender_ = ar_.req.sender;
    if (auto loop = loop_check(r.address); loop) {
      ar_.status.bounce(r, dsn("5.4.6", "mail forwarding loop for " + r.address));
      return;
    }
    ar_.status.hold();
    deliver_address(r, r.address, 0, true);
    ar_.status.release(r);
  }

 private:
  // Whether the message already carries Delivered-To: <address>.
  bool loop_check(const std::string& address) {
    std::string want = lower(address);
    bool found = false;
    bool in_headers = true;
    (void)for_each_content_line(ar_.queue_fd, ar_.req.data_offset,
                                [&](std::string_view line, bool) -> Status {
                                  if (!in_headers) return {};
                                  if (line.empty()) {
                                    in_headers = false;
                                    return {};
                                  }
                                  std::string l = lower(std::string(line));
                                  if (l.starts_with("delivered-to:")) {
                                    std::string v = l.substr(13);
                                    size_t b = v.find_first_not_of(" \t");
                                    if (b != std::string::npos && v.substr(b) == want) found = true;
                                  }
                                  return {};
                                });
    return found;
  }

  void deliver_address(const DeliverRecipient& r, const std::string& address, int depth,
                       bool top) {
    if (depth > kMaxDepth) {
      ar_.status.bounce(r, dsn("5.4.6", "mail forwarding loop for " + address));
      return;
    }
    auto parts = split_address(address);
    std::string local = lower(parts.local);
    auto ext = maps::split_extension(local, cfg_.get("recipient_delimiter"));
    // Aliases: the full local part, then without the extension.
    if (alias_error_) {
      ar_.status.defer(r, dsn("4.3.0", "alias database unavailable"));
      return;
    }
    if (!visited_.count(local) && !aliases_.empty()) {
      auto v = aliases_.find(local);
      if (!v && v.error().code == Errc::kNotFound && !ext.extension.empty())
        v = aliases_.find(ext.user);
      if (!v && v.error().code != Errc::kNotFound) {
        ar_.status.defer(r, dsn("4.3.0", "alias database unavailable"));
        return;
      }
      if (v) {
        visited_.insert(local);
        // An "owner-NAME" alias makes the list owner the sender of what
        // NAME expands to (expand_owner_alias: its expansion instead);
        // mail from <> keeps the null sender.
        std::string saved = sender_;
        if (!sender_.empty() && !local.starts_with("owner-")) {
          if (auto owner = aliases_.find("owner-" + local); owner) {
            auto first = split_targets(*owner);
            sender_ = cfg_.get_bool("expand_owner_alias") && first.size() == 1 &&
                              first[0].find_first_of("|/:\\") == std::string::npos
                          ? first[0]
                          : "owner-" + local;
            if (sender_.find('@') == std::string::npos) sender_ += "@" + cfg_.get("myorigin");
          }
        }
        expand(r, *v, depth + 1, privs_, "alias", local);
        sender_ = saved;
        return;
      }
    }
    std::string user = ext.user;
    auto pw = lookup_user(user);
    if (!pw) {
      // Precedence for names not in passwd: mailbox_transport(_maps),
      // fallback_transport(_maps), luser_relay.
      for (auto [maps, param] : {std::pair{"mailbox_transport_maps", "mailbox_transport"},
                                 std::pair{"fallback_transport_maps", "fallback_transport"}}) {
        bool failed = false;
        if (auto t = transport_for(maps, param, user, &failed); t) {
          pass(r, address, *t);
          return;
        }
        if (failed) {
          ar_.status.defer(r, dsn("4.3.0", std::string(maps) + " lookup failure"));
          return;
        }
      }
      std::string relay = cfg_.get("luser_relay");
      if (!relay.empty() && top) {
        forward(r, {relay});
        return;
      }
      ar_.status.bounce(r, dsn("5.1.1", "unknown user: \"" + local + "\""));
      return;
    }
    Owner owner{pw->uid, pw->gid, pw->home, pw->name, pw->shell};
    if (!visited_.count("~" + user)) {
      visited_.insert("~" + user);
      // An empty .forward counts as none.
      if (auto fwd = read_forward(owner, ext.extension); fwd && !split_targets(*fwd).empty()) {
        expand(r, *fwd, depth + 1, owner, "forward", user);
        return;
      }
    }
    mailbox(r, owner, ext.extension, address);
  }

  // The transport for `user` from `maps_param`, else `param`; nullopt when
  // neither names one (*failed when the lookup itself failed).
  std::optional<std::string> transport_for(const char* maps_param, const char* param,
                                           const std::string& user, bool* failed) {
    std::string maps_value = cfg_.get(maps_param);
    if (!maps_value.empty()) {
      auto m = maps::MapList::open(maps_param, maps_value);
      if (!m) {
        log::warn("{}", m.error().text);
        *failed = true;
        return std::nullopt;
      }
      auto v = m->find(user);
      if (v) return *v;
      if (v.error().code != Errc::kNotFound) {
        *failed = true;
        return std::nullopt;
      }
    }
    std::string t = cfg_.get(param);
    if (!t.empty()) return t;
    return std::nullopt;
  }

  // Hands `r` to the delivery agent of "transport[:nexthop]" as qmgr
  // would, for the address being delivered (qualified with $myorigin);
  // that agent logs and records the result, this one only counts it.
  void pass(const DeliverRecipient& r, const std::string& address, const std::string& spec) {
    auto colon = spec.find(':');
    std::string transport = spec.substr(0, colon);
    std::string nexthop = colon == std::string::npos || colon + 1 == spec.size()
                              ? ar_.req.nexthop
                              : spec.substr(colon + 1);
    if (transport.empty() || transport.find('/') != std::string::npos) {
      log::warn("bad transport name in \"{}\"", spec);
      ar_.status.defer(r, dsn("4.3.5", "mail system configuration error"));
      return;
    }
    DeliverRequest req = ar_.req;
    req.transport = transport;
    req.nexthop = nexthop;
    DeliverRecipient rcpt = r;
    rcpt.address = address.find('@') == std::string::npos ? address + "@" + cfg_.get("myorigin") : address;
    req.recipients = {rcpt};
    req.handoff_us = now_us();
    log::info("{}: passing <{}> to transport={}", ar_.req.queue_id, rcpt.address, transport);
    auto timeout = std::chrono::seconds(std::max<long long>(cfg_.get_time("ipc_timeout"), 60));
    auto rep = deliver_request_send(cfg_.get("queue_directory") + "/private/" + transport, req, timeout);
    if (!rep) {
      log::warn("{}: connect to transport private/{}: {}", ar_.req.queue_id, transport, rep.error().text);
      ar_.status.defer(r, dsn("4.3.0", "mail transport unavailable"));
      return;
    }
    for (const auto& [offset, outcome] : rep->outcomes) {
      if (offset == r.offset && rep->status == 0) {
        ar_.status.passed(r, outcome);
        return;
      }
    }
    ar_.status.defer(r, dsn("4.3.0", rep->reason.empty() ? "mail transport unavailable" : rep->reason));
  }

  // The first readable .forward file in forward_path, if any.
  std::optional<std::string> read_forward(const Owner& o, const std::string& extension) {
    // forward_path names local's own attributes ($home, $user, ...):
    // it is expanded here, not as a main.cf parameter.
    std::vector<std::string> items;
    for (auto t : split_targets(cfg_.raw("forward_path").value_or("")))
      for (size_t b = 0; b < t.size();) {
        size_t e = t.find_first_of(" \t", b);
        if (e == std::string::npos) e = t.size();
        if (e > b) items.push_back(t.substr(b, e - b));
        b = e + 1;
      }
    std::string delim = extension.empty() ? "" : cfg_.get("recipient_delimiter").substr(0, 1);
    for (auto item : items) {
      std::string path = expand_attrs(item, {{"home", o.home},
                                             {"user", o.name},
                                             {"extension", extension},
                                             {"recipient_delimiter", delim}});
      auto text = as_user(o.uid, o.gid, [&] { return read_file(path, 1 << 20); });
      if (text) return *text;
    }
    return std::nullopt;
  }

  void expand(const DeliverRecipient& r, const std::string& value, int depth, const Owner& who,
              std::string_view origin, const std::string& self) {
    std::vector<std::string> remote;
    for (auto t : split_targets(value)) {
      if (t.starts_with("|")) {
        if (!list_has(cfg_, "allow_mail_to_commands", origin)) {
          ar_.status.bounce(r, dsn("5.7.1", "mail to command is restricted"));
          continue;
        }
        command(r, who, t.substr(1));
      } else if (t.starts_with("/")) {
        if (!list_has(cfg_, "allow_mail_to_files", origin)) {
          ar_.status.bounce(r, dsn("5.7.1", "mail to file is restricted"));
          continue;
        }
        if (t.back() == '/')
          maildir(r, who, t);
        else
          mbox(r, who, t, "delivered to file: " + t);
      } else if (t.starts_with(":include:")) {
        std::string path = t.substr(9);
        auto text = as_user(who.uid, who.gid, [&] { return read_file(path, 1 << 20); });
        if (!text) {
          ar_.status.defer(r, dsn("4.3.0", "cannot open include file " + path + ": " + text.error().text));
          continue;
        }
        expand(r, *text, depth + 1, who, "include", self);
      } else {
        bool escaped = t.starts_with("\\");
        std::string addr = escaped ? t.substr(1) : t;
        std::string l = lower(split_address(addr).local);
        bool has_domain = addr.find('@') != std::string::npos;
        if (escaped || (!has_domain && l == self)) {
          // "\user" or the alias/user itself: straight to the mailbox.
          auto pw = lookup_user(l);
          if (!pw) {
            ar_.status.bounce(r, dsn("5.1.1", "unknown user: \"" + l + "\""));
            continue;
          }
          mailbox(r, Owner{pw->uid, pw->gid, pw->home, pw->name, pw->shell}, "", l);
        } else if (!has_domain) {
          deliver_address(r, addr, depth, false);
        } else {
          remote.push_back(addr);
        }
      }
    }
    if (!remote.empty()) forward(r, remote);
  }

  void mailbox(const DeliverRecipient& r, const Owner& o, const std::string& extension,
               const std::string& address) {
    // mailbox_transport_maps, mailbox_transport: another agent delivers.
    bool failed = false;
    if (auto t = transport_for("mailbox_transport_maps", "mailbox_transport", o.name, &failed); t) {
      pass(r, address, *t);
      return;
    }
    if (failed) {
      ar_.status.defer(r, dsn("4.3.0", "mailbox_transport_maps lookup failure"));
      return;
    }
    auto parts = split_address(r.address);
    std::string command_text = cfg_.raw("mailbox_command").value_or("");
    if (std::string maps_value = cfg_.get("mailbox_command_maps"); !maps_value.empty()) {
      auto m = maps::MapList::open("mailbox_command_maps", maps_value);
      auto v = m ? m->find(o.name) : Result<std::string>(fail(Errc::kIo, m.error().text));
      if (v) {
        command_text = *v;
      } else if (v.error().code != Errc::kNotFound) {
        ar_.status.defer(r, dsn("4.3.0", "mailbox_command_maps lookup failure"));
        return;
      }
    }
    std::string cmd = expand_attrs(command_text,
                                   {{"home", o.home},
                                    {"user", o.name},
                                    {"shell", o.shell},
                                    {"extension", extension},
                                    {"recipient", r.address},
                                    {"sender", sender_},
                                    {"local", parts.local},
                                    {"domain", parts.domain},
                                    {"original_recipient", r.orig}});
    if (!cmd.empty()) {
      // Never as root: root's mail runs the command as default_privs.
      command(r, o.uid == 0 ? privs_ : o, cmd, extension);
      return;
    }
    std::string home_box = cfg_.get("home_mailbox");
    if (!home_box.empty()) {
      std::string path = o.home + "/" + home_box;
      if (path.back() == '/')
        maildir(r, o, path);
      else
        mbox(r, o, path, "delivered to mailbox");
      return;
    }
    std::string spool = cfg_.get("mail_spool_directory");
    if (spool.back() == '/') {
      maildir(r, o, spool + o.name + "/");
      return;
    }
    std::string path = spool + "/" + o.name;
    // The spool directory is usually root's: make the file as root, then
    // give it to the user.
    if (::geteuid() == 0 && ::access(path.c_str(), F_OK) != 0) {
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) {
        (void)::fchown(fd, o.uid, o.gid);
        ::close(fd);
      }
    }
    mbox(r, o, path, "delivered to mailbox");
  }

  MailCopy copy(const DeliverRecipient& r) {
    MailCopy m;
    m.queue_fd = ar_.queue_fd;
    m.data_offset = ar_.req.data_offset;
    m.sender = sender_;
    m.recipient = r.address;
    m.orig_recipient = cfg_.get_bool("enable_original_recipient") ? r.orig : "";
    return m;
  }

  // Address probes and sendmail -bv deliver nothing (verify.md).
  bool trace_only(const DeliverRecipient& r, const std::string& what) {
    if (!deliver_trace_only(ar_.req.flags)) return false;
    ar_.status.sent(r, dsn("2.0.0", what));
    return true;
  }

  void maildir(const DeliverRecipient& r, const Owner& o, const std::string& dir) {
    if (trace_only(r, "delivers to maildir")) return;
    MailCopy m = copy(r);
    auto res = as_user(o.uid, o.gid, [&] { return deliver_maildir(dir, m); });
    if (!res) {
      ar_.status.fail(r, dsn(mailbox_status(res.error(), "4.2.0"), "maildir delivery failed: " + res.error().text));
      return;
    }
    ar_.status.sent(r, dsn("2.0.0", "delivered to maildir"));
  }

  void mbox(const DeliverRecipient& r, const Owner& o, const std::string& path,
            const std::string& ok) {
    if (ok.starts_with("delivered to ") && trace_only(r, "delivers to " + ok.substr(13))) return;
    MailCopy m = copy(r);
    bool is_mailbox = ok == "delivered to mailbox";  // else a file named by an alias or .forward
    m.size_limit = static_cast<long>(cfg_.get_int("mailbox_size_limit"));
    bool dotlock = cfg_.get("mailbox_delivery_lock").find("dotlock") != std::string::npos;
    auto res = as_user(o.uid, o.gid, [&] { return deliver_mbox(path, m, dotlock); });
    if (!res) {
      std::string text = is_mailbox ? "cannot update mailbox " + path + " for user " + o.name + ". "
                                    : "cannot append message to file " + path + ": ";
      ar_.status.fail(r, dsn(mailbox_status(res.error(), "5.2.0"), text + res.error().text));
      return;
    }
    ar_.status.sent(r, dsn("2.0.0", ok));
  }

  void command(const DeliverRecipient& r, const Owner& o, const std::string& cmd,
               const std::string& extension = {}) {
    if (trace_only(r, "delivers to command: " + cmd)) return;
    auto parts = split_address(r.address);
    CommandSpec spec;
    std::string shell = cfg_.get("local_command_shell");
    spec.argv = shell.empty() ? std::vector<std::string>{"/bin/sh", "-c", cmd}
                              : std::vector<std::string>{shell, "-c", cmd};
    spec.uid = o.uid;
    spec.gid = o.gid;
    spec.switch_user = true;
    // command_execution_directory (local's $home, $user, ... expanded);
    // when it cannot be entered the delivery is deferred.
    std::string exec_dir = cfg_.raw("command_execution_directory").value_or("");
    if (!exec_dir.empty()) {
      spec.cwd = expand_attrs(exec_dir, {{"home", o.home},
                                         {"user", o.name},
                                         {"shell", o.shell},
                                         {"extension", extension},
                                         {"recipient", r.address},
                                         {"domain", parts.domain}});
      spec.cwd_required = true;
    } else {
      spec.cwd = o.home;
    }
    spec.time_limit = static_cast<long>(cfg_.get_time("command_time_limit"));
    spec.env = {"HOME=" + o.home,         "USER=" + o.name,
                "LOGNAME=" + o.name,      "SHELL=" + (o.shell.empty() ? "/bin/sh" : o.shell),
                "SENDER=" + sender_, "RECIPIENT=" + r.address,
                "LOCAL=" + parts.local,   "DOMAIN=" + parts.domain,
                "EXTENSION=" + extension, "ORIGINAL_RECIPIENT=" + r.orig,
                "PATH=/usr/bin:/bin"};
    for (auto& e : exported_environment(cfg_.get_list("export_environment"))) spec.env.push_back(std::move(e));
    MailCopy m = copy(r);
    auto res = run_command(spec, [&](int fd) {
      return copy_message(fd, m, CopyOptions{true, false, false}, "command pipe");
    });
    if (!res) {
      ar_.status.defer(r, dsn("4.3.0", "cannot run command: " + res.error().text));
      return;
    }
    ar_.status.report(r, command_dsn(*res, cmd, "delivered to command: " + cmd));
  }

  // Sends the message on to `targets` as a new message through cleanup.
  void forward(const DeliverRecipient& r, const std::vector<std::string>& targets) {
    if (deliver_trace_only(ar_.req.flags)) {
      std::string list;
      for (const auto& t : targets) list += (list.empty() ? "" : ", ") + t;
      ar_.status.sent(r, dsn("2.0.0", "aliased to " + list));
      return;
    }
    auto client = CleanupClient::open_socket(cfg_.get("queue_directory") + "/public/" + cfg_.get("cleanup_service_name"), kCleanupFlagMapOk, std::chrono::seconds(60));
    if (!client) {
      ar_.status.defer(r, dsn("4.3.0", "mail forwarding failed: " + client.error().text));
      return;
    }
    struct timeval tv;
    ::gettimeofday(&tv, nullptr);
    Status s = client->record(rec::kTime, std::to_string(tv.tv_sec) + " " + std::to_string(tv.tv_usec));
    if (s) s = client->record(rec::kAttr, "rewrite_context=local");
    if (s) s = client->record(rec::kSender, sender_);
    for (const auto& t : targets) {
      if (!s) break;
      s = client->record(rec::kOrigRecipient, r.orig.empty() ? r.address : r.orig);
      if (s) s = client->record(rec::kRecipient, t);
    }
    if (s) s = client->record(rec::kMessage, "");
    if (s) s = client->content_line("Delivered-To: " + lower(r.address));
    if (s)
      s = for_each_content_line(ar_.queue_fd, ar_.req.data_offset,
                                [&](std::string_view line, bool) { return client->content_line(line); });
    if (s) s = client->record(rec::kExtracted, "");
    if (!s) {
      ar_.status.defer(r, dsn("4.3.0", "mail forwarding failed: " + s.error().text));
      return;
    }
    auto out = client->finish();
    if (!out || out->status != 0) {
      ar_.status.defer(r, dsn("4.3.0", "mail forwarding failed: " +
                                           (out ? out->reason : out.error().text)));
      return;
    }
    ar_.status.sent(r, dsn("2.0.0", "forwarded as " + client->queue_id()));
  }

  AgentRequest& ar_;
  const Config& cfg_;
  maps::MapList aliases_;
  bool alias_error_ = false;
  Owner privs_;
  std::set<std::string> visited_;
  std::string sender_;  // the envelope sender for deliveries (owner- aliases change it)
};

}  // namespace

int main(int argc, char** argv) {
  return deliver_agent_main(argc, argv, "local", [](AgentRequest& ar) {
    LocalDelivery d(ar);
    for (const auto& r : ar.req.recipients) d.deliver(r);
  });
}
