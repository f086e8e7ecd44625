// master [-c config_dir] [-d] [-e exit_time] [-t] [-v] [-w]
//
//   -c DIR  configuration directory (also passed to children as MAIL_CONFIG)
//   -d      stay in the foreground (postfix start-fg)
//   -e N    exit after N seconds (tests)
//   -t      test: exit 0 when no master runs for this queue, 1 when one does
//   -v      verbose logging, also passed to the children
//   -w      detach, and exit 0 only once the daemon has opened its listeners
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "global/build_paths.h"
#include "global/config.h"
#include "global/mail_server.h"
#include "master/master.h"
#include "util/files.h"
#include "util/log.h"
#include "util/process.h"
#include "util/strings.h"

using namespace postern;

namespace {

// True when some process holds the lock on `path` (a running master).
bool locked_by_other(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  return ::flock(fd.get(), LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

Result<PidFileLock> lock_or_explain(const std::string& path) {
  auto lock = PidFileLock::acquire(path);
  if (!lock && lock.error().code == Errc::kExists)
    return fail(Errc::kExists, "open lock file " + path +
                                   ": unable to set exclusive lock: Resource temporarily unavailable");
  return lock;
}

[[noreturn]] void usage() {
  log::fatal("usage: master [-c config_dir] [-d] [-e exit_time] [-t] [-v] [-w]");
}

}  // namespace

int main(int argc, char** argv) {
  log::init("master", "postfix/master");
  std::string config_dir;
  bool foreground = false, test_only = false, wait_for_init = false;
  int exit_after = 0, verbose = 0;
  int opt;
  while ((opt = ::getopt(argc, argv, "c:De:itsvwd")) != -1) {
    switch (opt) {
      case 'c': config_dir = optarg; break;
      case 'd': case 'i': case 's': foreground = true; break;
      case 'D': break;
      case 'e': exit_after = static_cast<int>(parse_long(optarg).value_or(0)); break;
      case 't': test_only = true; break;
      case 'v': ++verbose; break;
      case 'w': wait_for_init = true; break;
      default: usage();
    }
  }
  if (optind != argc) usage();
  if (config_dir.empty()) config_dir = default_config_directory();
  // Children and reloads run elsewhere (queue_directory): keep the path absolute.
  if (!config_dir.starts_with("/")) config_dir = std::filesystem::absolute(config_dir).lexically_normal().string();
  ::setenv("MAIL_CONFIG", config_dir.c_str(), 1);
  log::set_verbose(verbose);

  auto cfg = Config::load(config_dir);
  if (!cfg) log::fatal("{}", cfg.error().text);
  cfg->set_process_name("master");
  set_config(*cfg);
  log::Settings ls = mail_log_settings(*cfg);
  ls.postlog_socket.clear();  // master appends to maillog_file itself
  log::configure(ls);

  std::string queue_dir = cfg->get("queue_directory");
  std::string pid_path = queue_dir + "/pid/master.pid";
  if (test_only) return locked_by_other(pid_path) ? 1 : 0;
  if (::chdir(queue_dir.c_str()) < 0) log::fatal("chdir {}: {}", queue_dir, std::strerror(errno));
  if (::geteuid() == 0) {
    std::string owner = cfg->get("mail_owner");
    auto user = lookup_user(owner);
    if (!user)
      log::fatal("file {}: parameter mail_owner: unknown user name value: {}",
                 cfg->main_cf_path(), owner);
    if (user->uid == 0)
      log::fatal("file {}: parameter mail_owner: user {} has the same user ID as root",
                 cfg->main_cf_path(), owner);
  }

  // -w: the parent waits for one byte ('0' = ready) from the daemon.
  UniqueFd ready_write;
  if (wait_for_init) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) log::fatal("pipe: {}", std::strerror(errno));
    pid_t pid = ::fork();
    if (pid < 0) log::fatal("fork: {}", std::strerror(errno));
    if (pid > 0) {
      ::close(fds[1]);
      pollfd p{fds[0], POLLIN, 0};
      char c = 0;
      if (::poll(&p, 1, 120000) > 0 && ::read(fds[0], &c, 1) == 1 && c == '0') return 0;
      return 1;
    }
    ::close(fds[0]);
    ready_write.reset(fds[1]);
    ::setsid();
    int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, 0);
    ::dup2(null_fd, 1);
    if (null_fd > 2) ::close(null_fd);
  } else if (!foreground) {
    if (auto d = daemonize(); !d) log::fatal("{}", d.error().text);
    log::set_stderr("");
  }

  auto pid_lock = lock_or_explain(pid_path);
  if (!pid_lock) log::fatal("{}", pid_lock.error().text);
  auto data_lock = lock_or_explain(cfg->get("data_directory") + "/master.lock");
  if (!data_lock) log::fatal("{}", data_lock.error().text);

  Master master(config_dir, verbose);
  if (auto st = master.start(*cfg); !st) {
    // Unlock before the -w parent learns of the failure, so that a
    // "postfix status" right after a failed start says "not running".
    pid_lock = fail(Errc::kInvalid, "released");
    data_lock = fail(Errc::kInvalid, "released");
    log::fatal("{}", st.error().text);
  }
  if (ready_write) {
    ssize_t ignored = ::write(ready_write.get(), "0", 1);
    (void)ignored;
    ready_write.reset();
    int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, 2);
    if (null_fd > 2) ::close(null_fd);
    log::set_stderr("");
  }
  log::info("daemon started -- version {}, configuration {}", POSTERN_VERSION, config_dir);
  return master.run(exit_after);
}
