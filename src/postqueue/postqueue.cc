// postqueue(1): list the queue (-p, -j; also run as mailq), flush it (-f),
// flush one site (-s) or one message (-i).
//   postqueue [-v] [-c config_dir] -f | -i queue_id | -j | -p | -s site
// Listing asks the showq service; when the mail system is down, root reads
// the queue directly (with Postfix's warning), others get an error.
#include <unistd.h>

#include <cstring>
#include <string>

#include "flush/flush_client.h"
#include "global/attr.h"
#include "global/config.h"
#include "global/mail_queue.h"
#include "global/match_list.h"
#include "global/setgid_config.h"
#include "global/showq_format.h"
#include "global/showq_scan.h"
#include "global/trigger.h"
#include "maps/table_lookup.h"
#include "util/log.h"
#include "util/process.h"
#include "util/socket.h"
#include "util/stream.h"

using namespace postern;

namespace {

constexpr int kExUsage = 69;  // Postfix exits EX_UNAVAILABLE on usage errors too
constexpr int kExUnavailable = 69;
constexpr int kExNoPerm = 77;

[[noreturn]] void fatal_status(int status, const std::string& text) {
  log::emit(log::Level::kFatal, text);
  std::exit(status);
}

[[noreturn]] void usage() {
  fatal_status(kExUsage,
               "usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | "
               "postqueue -s site");
}

// The strerror part of "what: text" error messages.
std::string reason_of(const Error& e) {
  size_t pos = e.text.rfind(": ");
  return pos == std::string::npos ? e.text : e.text.substr(pos + 2);
}

// Postfix's user ACLs: root and mail_owner always pass; others by name.
void check_acl(const Config& cfg, std::string_view param, std::string_view what) {
  uid_t uid = ::getuid();
  if (uid == 0) return;
  auto owner = lookup_user(cfg.get("mail_owner"));
  if (owner && owner->uid == uid) return;
  auto me = lookup_uid(uid);
  std::string name = me ? me->name : std::to_string(uid);
  auto list = MatchList::from_config(cfg, param, maps::make_table_lookup());
  if (!list) fatal_status(kExUnavailable, list.error().text);
  auto ok = list->match_string(name);
  if (!ok) fatal_status(kExUnavailable, fmt::format("{}: table lookup problem", param));
  if (!*ok)
    fatal_status(kExNoPerm,
                 fmt::format("User {}({}) is not allowed to {} the mail queue", name, uid, what));
}

// Writes the listing of `m` in the chosen format to stdout.
struct Lister {
  bool json;
  MailqPrinter printer;
  std::string buf;
  void add(const ShowqMessage& m) {
    if (json) buf += showq_json_line(m);
    else printer.add(m, buf);
    if (buf.size() > 65536) flush();
  }
  void flush() {
    (void)write_all(STDOUT_FILENO, buf);
    buf.clear();
  }
  void finish() {
    if (!json) printer.finish(buf);
    flush();
  }
};

int show_queue(const Config& cfg, bool json) {
  check_acl(cfg, "authorized_mailq_users", "view");
  Lister out{json, {}, {}};
  std::string path = cfg.get("queue_directory") + "/public/showq";
  auto timeout = std::chrono::seconds(cfg.get_time("ipc_timeout"));
  auto fd = connect_unix(path, Clock::now() + timeout);
  if (fd) {
    Stream s = Stream::from_fd(std::move(*fd));
    s.set_timeout(timeout);
    if (auto st = attr_expect_protocol(s, AttrEncoding::kNul, kShowqProtocol); !st)
      fatal_status(kExUnavailable, fmt::format("malformed showq server reply: {}", st.error().text));
    AttrLimits limits;
    limits.max_attrs = 1 << 22;
    for (;;) {
      auto list = attr_read(s, AttrEncoding::kNul, limits);
      if (!list) {
        if (list.error().code == Errc::kEof) break;
        fatal_status(kExUnavailable, fmt::format("malformed showq server reply: {}", list.error().text));
      }
      auto m = showq_decode(*list);
      if (!m) fatal_status(kExUnavailable, m.error().text);
      out.add(*m);
    }
    out.finish();
    return 0;
  }
  int err = errno;
  (void)err;
  if (::geteuid() != 0)
    fatal_status(kExUnavailable, "Queue report unavailable - mail system is down");
  log::warn("Mail system is down -- accessing queue directly (Connect to the Postfix showq "
            "service: {})",
            reason_of(fd.error()));
  auto queue = MailQueue::from_config(cfg);
  if (!queue) fatal_status(kExUnavailable, queue.error().text);
  showq_scan(*queue, [&](const ShowqMessage& m) {
    out.add(m);
    return true;
  });
  out.finish();
  return 0;
}

// Wakes a trigger service; false (with Postfix's warning) when it is down.
bool poke(const Config& cfg, std::string_view service, std::string_view data) {
  std::string path = cfg.get("queue_directory") + "/public/" + std::string(service);
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) {
    log::warn("unable to look up public/{}: {}", service, std::strerror(errno));
    return false;
  }
  auto r = mail_trigger(cfg.get("queue_directory"), "public", service, data);
  if (!r) {
    log::warn("connect to public/{}: {}", service, reason_of(r.error()));
    return false;
  }
  return true;
}

int flush_queue(const Config& cfg) {
  check_acl(cfg, "authorized_flush_users", "flush");
  std::string qmgr = cfg.get("qmgr_service_name");
  std::string pickup = cfg.get("pickup_service_name");
  if (qmgr.empty()) qmgr = "qmgr";
  if (pickup.empty()) pickup = "pickup";
  const char req[] = {kTriggerFlushDead, kTriggerScanAll, kTriggerScanDeferred,
                      kTriggerScanIncoming};
  if (!poke(cfg, qmgr, std::string_view(req, sizeof req)))
    fatal_status(kExUnavailable, "Cannot flush mail queue - mail system is down");
  if (!poke(cfg, pickup, std::string_view(&kTriggerWakeup, 1)))
    fatal_status(kExUnavailable, "Cannot flush mail queue - mail system is down");
  return 0;
}

void flush_status(int status, std::string_view what) {
  switch (status) {
    case kFlushOk: return;
    case kFlushDeny:
      fatal_status(kExUnavailable,
                   fmt::format("Flush service is not configured for destination \"{}\"", what));
    case kFlushBad: fatal_status(kExUnavailable, fmt::format("Invalid request: \"{}\"", what));
    default: fatal_status(kExUnavailable, "Cannot flush mail queue - mail system is down");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string self = argv[0];
  std::string base = self.substr(self.rfind('/') == std::string::npos ? 0 : self.rfind('/') + 1);
  bool as_mailq = base == "mailq";
  log::init("postqueue", "postqueue");  // Postfix's mailq runs postqueue: same prefix
  static char program_name[] = "postqueue";
  argv[0] = program_name;
  log::disable_syslog();
  std::string config_dir;
  char mode = as_mailq ? 'p' : 0;
  std::string arg;
  int c;
  while ((c = ::getopt(argc, argv, "c:fi:jps:v")) != -1) {
    switch (c) {
      case 'c': config_dir = optarg; break;
      case 'f': case 'j': case 'p':
        if (mode && !as_mailq) usage();
        mode = static_cast<char>(c);
        break;
      case 'i': case 's':
        if (mode && !as_mailq) usage();
        mode = static_cast<char>(c);
        arg = optarg;
        break;
      case 'v': log::increase_verbose(); break;
      default: usage();
    }
    if (as_mailq && mode != 'p') as_mailq = false;
  }
  if (optind < argc || !mode) usage();
  if (config_dir.empty()) {
    const char* env = std::getenv("MAIL_CONFIG");
    config_dir = env && *env ? env : default_config_directory();
  }
  // Installed set-gid postdrop (to reach public/showq and public/qmgr), it
  // must not let a user choose the configuration.
  if (running_privileged() && !authorized_config_dir(config_dir))
    fatal_status(kExNoPerm, config_dir + " is not an authorized configuration directory");
  auto cfg = Config::load(config_dir);
  if (!cfg) fatal_status(kExUnavailable, cfg.error().text);
  set_config(std::move(*cfg));
  const Config& conf = config();
  switch (mode) {
    case 'p': return show_queue(conf, false);
    case 'j': return show_queue(conf, true);
    case 'f': return flush_queue(conf);
    case 's':
      check_acl(conf, "authorized_flush_users", "flush");
      flush_status(flush_send_site(conf, arg), arg);
      return 0;
    case 'i':
      check_acl(conf, "authorized_flush_users", "flush");
      flush_status(flush_send_file(conf, arg), arg);
      return 0;
  }
  usage();
}
