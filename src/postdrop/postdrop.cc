// postdrop: writes a message from sendmail into maildrop/ and wakes
// pickup. Installed set-gid setgid_group (postdrop) by root, so that any
// user can drop mail into the group-writable maildrop/ directory.
//   postdrop [-v] [-c config_dir] [-r] < records
// stdin holds queue records as sendmail writes them (envelope "MFSRVAin"
// ending with M, content "XLN" ending with X, extracted "EAR" ending with
// E). The file is created 0600, written, fsynced and made 0744; only then
// does pickup accept it. An interrupted postdrop removes its file. The
// message waits in maildrop/ when master (pickup) is not running.
#include <fcntl.h>
#include <sysexits.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <cstring>
#include <ctime>
#include <sys/time.h>

#include "global/build_paths.h"
#include "global/config.h"
#include "global/mail_queue.h"
#include "global/mail_server.h"
#include "global/queue_file.h"
#include "global/rec_type.h"
#include "global/record.h"
#include "global/setgid_config.h"
#include "global/trigger.h"
#include "postdrop/maildrop.h"
#include "util/log.h"
#include "util/strings.h"

using namespace postern;

namespace {

char cleanup_path[4096];  // the file to remove when interrupted

void on_signal(int sig) {
  if (cleanup_path[0]) ::unlink(cleanup_path);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

[[noreturn]] void die(int code, const std::string& text) {
  if (cleanup_path[0]) ::unlink(cleanup_path);
  log::error("{}", text);
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  log::init("postdrop", "postdrop");
  std::string config_dir;
  int c;
  while ((c = ::getopt(argc, argv, "c:rv")) != -1) {
    switch (c) {
      case 'c': config_dir = optarg; break;
      case 'r': break;  // input is always in record form
      case 'v': log::increase_verbose(); break;
      default: log::error("usage: postdrop [-c config_dir] [-v]"); return EX_USAGE;
    }
  }
  if (config_dir.empty()) config_dir = default_config_directory();
  if (running_privileged() && !authorized_config_dir(config_dir)) {
    log::error("{} is not an authorized configuration directory", config_dir);
    return EX_NOPERM;
  }
  auto cfg = Config::load(config_dir);
  if (!cfg) {
    log::error("{}", cfg.error().text);
    return EX_CONFIG;
  }
  set_config(std::move(*cfg));
  log::configure(mail_log_settings(config()));
  auto queue = MailQueue::from_config(config());
  if (!queue) {
    log::error("{}", queue.error().text);
    return EX_CONFIG;
  }
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM}) ::signal(sig, on_signal);
  ::signal(SIGPIPE, SIG_IGN);

  auto file = queue->create("maildrop", 0600);
  if (!file) {
    log::error("create file in maildrop: {}", file.error().text);
    return EX_CANTCREAT;
  }
  std::snprintf(cleanup_path, sizeof cleanup_path, "%s", file->path.c_str());

  const long long size_limit = config().int_value("message_size_limit").value_or(10240000);
  QueueFileWriter w(file->fd.get());
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  w.time(tv.tv_sec, tv.tv_usec);
  w.attr("rewrite_context", "local");
  submit::MaildropValidator check(false);
  RecordReader in(0, "stdin", 1 << 20);
  long long total = 0;
  const uid_t uid = ::getuid();
  while (!check.done()) {
    auto r = in.next();
    if (!r) die(EX_DATAERR, fmt::format("uid={}: {}", uid, r.error().text));
    if (!*r) die(EX_DATAERR, fmt::format("uid={}: unexpected EOF in data", uid));
    const Record& rec = **r;
    if (auto st = check.accept(rec.type); !st)
      die(EX_DATAERR, fmt::format("uid={}: {}", uid, st.error().text));
    total += static_cast<long long>(rec.data.size());
    if (size_limit > 0 && total > size_limit * 2)
      die(EX_DATAERR, fmt::format("uid={}: message too large", uid));
    if (rec.type == rec::kAttr && rec.data.starts_with("rewrite_context=")) continue;
    w.record(rec.type, rec.data);
  }
  if (auto st = w.commit(file->fd.get(), 0044); !st)
    die(EX_IOERR, fmt::format("{}: {}", file->path, st.error().text));
  cleanup_path[0] = 0;  // the message is safe now
  if (auto st = mail_trigger(queue->directory(), "public", "pickup", "W"); !st)
    log::warn("unable to look up public/pickup: {}", st.error().text);
  return 0;
}
