// postsuper(1): queue maintenance for the superuser.
//   postsuper [-psSv] [-c config_dir] [-d queue_id] [-e queue_id]
//             [-f queue_id] [-h queue_id] [-H queue_id] [-r queue_id] [queue...]
// queue_id may be ALL, or - to read IDs from stdin (one per line). Without
// an operation it checks the queue structure (-s). Per-message lines and
// the totals go to stderr and to the mail log, worded as Postfix's.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "global/config.h"
#include "global/mail_queue.h"
#include "global/mail_server.h"
#include "global/queue_id.h"
#include "global/trigger.h"
#include "postsuper/queue_ops.h"
#include "util/log.h"
#include "util/process.h"
#include "util/stream.h"
#include "util/strings.h"

using namespace postern;

namespace {

[[noreturn]] void usage() {
  log::fatal("usage: postsuper [-c config_dir] [-d queue_id (delete)] [-e queue_id (expire)] "
             "[-f queue_id (expire and/or un-hold)] [-h queue_id (hold)] [-H queue_id (un-hold)] "
             "[-p (purge temporary files)] [-r queue_id (requeue)] [-s (structure fix)] "
             "[-S (redundant structure fix)][-v (verbose)] [queue...]");
}

std::string plural(long n) { return n == 1 ? "" : "s"; }

}  // namespace

int main(int argc, char** argv) {
  log::init("postsuper", "postsuper");
  static char program_name[] = "postsuper";
  argv[0] = program_name;
  std::string config_dir;
  std::vector<std::pair<SuperOp, std::string>> ops;
  bool purge = false, structure = false;
  int c;
  while ((c = ::getopt(argc, argv, "c:d:e:f:h:H:pr:sSv")) != -1) {
    switch (c) {
      case 'c': config_dir = optarg; break;
      case 'd': ops.emplace_back(SuperOp::kDelete, optarg); break;
      case 'e': ops.emplace_back(SuperOp::kExpire, optarg); break;
      case 'f': ops.emplace_back(SuperOp::kExpireRelease, optarg); break;
      case 'h': ops.emplace_back(SuperOp::kHold, optarg); break;
      case 'H': ops.emplace_back(SuperOp::kRelease, optarg); break;
      case 'r': ops.emplace_back(SuperOp::kRequeue, optarg); break;
      case 'p': purge = true; break;
      case 's': case 'S': structure = true; break;
      case 'v': log::increase_verbose(); break;
      default: usage();
    }
  }
  if (::geteuid() != 0) log::fatal("use of this command is reserved for the superuser");
  std::vector<std::string> named(argv + optind, argv + argc);
  for (const auto& q : named)
    if (!valid_super_queue(q)) log::fatal("invalid directory name: {}", q);
  if (config_dir.empty()) {
    const char* env = std::getenv("MAIL_CONFIG");
    config_dir = env && *env ? env : default_config_directory();
  }
  auto cfg = Config::load(config_dir);
  if (!cfg) log::fatal("{}", cfg.error().text);
  set_config(std::move(*cfg));
  log::configure(mail_log_settings(config()));
  auto queue = MailQueue::from_config(config());
  if (!queue) log::fatal("{}", queue.error().text);
  // Work as mail_owner, as Postfix does: directories made while moving
  // files (hash subdirectories) must belong to the mail system.
  if (auto owner = lookup_user(config().get("mail_owner")); owner && owner->uid != 0) {
    if (auto st = drop_privileges(owner->uid, owner->gid); !st)
      log::fatal("{}", st.error().text);
  }
  if (ops.empty() && !purge) structure = true;

  QueueOps qops(*queue, [](const std::string& line) { log::info("{}", line); });
  if (structure || purge) {
    long renamed = qops.check_structure(purge, structure);
    if (renamed > 0) {
      log::info("Renamed to match inode number: {} message{}", renamed, plural(renamed));
      log::warn("QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS");
    }
  }

  std::string stdin_text;
  bool stdin_read = false;
  bool any[6] = {};
  bool requeued_any = false;
  for (const auto& [op, arg] : ops) {
    any[static_cast<int>(op)] = true;
    std::vector<std::string> queues = named.empty() ? default_queues(op) : named;
    IdArgument a = parse_id_argument(arg);
    if (a.kind == IdArgument::kAll) {
      qops.apply_all(op, queues);
      continue;
    }
    std::vector<std::string> ids;
    if (a.kind == IdArgument::kStdin) {
      if (!stdin_read) {
        char buf[65536];
        ssize_t n;
        while ((n = ::read(STDIN_FILENO, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
          if (n > 0) stdin_text.append(buf, static_cast<size_t>(n));
          if (stdin_text.size() > (256u << 20)) log::fatal("standard input is too large");
        }
        if (n < 0) log::fatal("read standard input: {}", std::strerror(errno));
        stdin_read = true;
      }
      ids = ids_from_text(stdin_text);
    } else {
      ids.push_back(a.id);
    }
    for (const auto& id : ids) {
      if (!valid_queue_id(id)) {
        log::warn("invalid mail queue id: {}", printable(id));
        continue;
      }
      qops.apply(op, id, queues);
    }
  }
  const SuperCounts& n = qops.counts();
  if (any[static_cast<int>(SuperOp::kDelete)])
    log::info("Deleted: {} message{}", n.deleted, plural(n.deleted));
  if (any[static_cast<int>(SuperOp::kExpire)] || any[static_cast<int>(SuperOp::kExpireRelease)])
    log::info("Force-expired: {} message{}", n.expired, plural(n.expired));
  if (any[static_cast<int>(SuperOp::kHold)])
    log::info("Placed on hold: {} message{}", n.held, plural(n.held));
  if (any[static_cast<int>(SuperOp::kRelease)] || any[static_cast<int>(SuperOp::kExpireRelease)])
    log::info("Released from hold: {} message{}", n.released, plural(n.released));
  if (any[static_cast<int>(SuperOp::kRequeue)]) {
    log::info("Requeued: {} message{}", n.requeued, plural(n.requeued));
    requeued_any = n.requeued > 0;
  }
  // Requeued mail waits in maildrop: wake pickup (quietly, it may be down).
  if (requeued_any) {
    std::string pickup = config().get("pickup_service_name");
    (void)mail_trigger(config().get("queue_directory"), "public", pickup.empty() ? "pickup" : pickup,
                       std::string_view(&kTriggerWakeup, 1));
  }
  return 0;
}
