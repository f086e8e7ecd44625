// postfix [-Dv] [-c config_dir] command
//
// Controls the mail system: start, start-fg, stop, abort, reload, status,
// flush, check, set-permissions, logrotate. Messages and exit codes are
// those of Postfix's postfix-script: progress is logged with the tag
// postfix/postfix-script (to the log and to stderr), a command that cannot
// be done is "fatal:" with exit status 1.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ctime>

#include "global/build_paths.h"
#include "global/config.h"
#include "global/mail_server.h"
#include "global/trigger.h"
#include "postfix/postfix_dirs.h"
#include "util/files.h"
#include "util/stream.h"
#include "util/log.h"
#include "util/process.h"
#include "util/strings.h"

using namespace postern;

namespace {

constexpr const char* kUsageCommands =
    "start (or stop, reload, abort, flush, check, status, set-permissions, "
    "upgrade-configuration, logrotate)";

struct Context {
  std::string config_dir;
  int verbose = 0;
  std::string queue_dir;
  std::string daemon_dir;
  std::string pid_path;
};

// True when a master holds the lock on pid/master.pid.
bool master_running(const Context& ctx) {
  UniqueFd fd(::open(ctx.pid_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  return ::flock(fd.get(), LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

pid_t master_pid(const Context& ctx) { return read_pid_file(ctx.pid_path).value_or(0); }

[[noreturn]] void fatal_exit(std::string_view text) {
  log::emit(log::Level::kFatal, text);
  std::exit(1);
}

void require_running(const Context& ctx) {
  if (!master_running(ctx)) fatal_exit("the Postfix mail system is not running");
}

// Runs argv and waits; returns its exit status (127 when it cannot run).
int run_program(const std::vector<std::string>& args) {
  pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

bool has_postlog_service(const Config& cfg) {
  for (const auto& s : cfg.master_services())
    if (s.name == "postlog" && s.type == "unix-dgram") return true;
  return false;
}

// Adds what newer configurations need: the postlog service.
int cmd_upgrade_configuration(const Context& ctx) {
  if (has_postlog_service(config())) return 0;
  std::string path = ctx.config_dir + "/master.cf";
  auto text = read_file(path);
  if (!text) fatal_exit(text.error().text);
  std::string updated = *text;
  if (!updated.empty() && updated.back() != '\n') updated += '\n';
  updated += "postlog   unix-dgram n  -       n       -       1       postlogd\n";
  if (auto s = replace_file_atomically(path, updated); !s) fatal_exit(s.error().text);
  log::info("adding the postlog service to {}", path);
  return 0;
}

// check-fatal and check-warn: directories created, then warnings.
void do_check(const Context& ctx, bool warn) {
  const Config& cfg = config();
  if (!file_exists(ctx.config_dir + "/master.cf"))
    fatal_exit(fmt::format("no {}/master.cf file found", ctx.config_dir));
  if (!cfg.master_cf_error().empty()) fatal_exit(cfg.master_cf_error());
  auto owners = resolve_owners(cfg);
  if (!owners) fatal_exit(owners.error().text);
  if (auto s = create_queue_directories(cfg, *owners, false); !s) {
    log::error("{}", s.error().text);
    fatal_exit("unable to create missing queue directories");
  }
  if (!cfg.get("maillog_file").empty() && !has_postlog_service(cfg))
    fatal_exit("missing 'postlog' service in master.cf - run 'postfix upgrade-configuration'");
  if (!warn) return;
  for (const auto& w : check_permissions(cfg, *owners)) log::warn("{}", w);
}

std::vector<std::string> master_argv(const Context& ctx, const char* mode) {
  std::vector<std::string> argv{ctx.daemon_dir + "/master", "-c", ctx.config_dir, mode};
  for (int i = 0; i < ctx.verbose; ++i) argv.push_back("-v");
  return argv;
}

int cmd_start(const Context& ctx, bool foreground) {
  if (master_running(ctx)) fatal_exit("the Postfix mail system is already running");
  do_check(ctx, true);
  log::info("starting the Postfix mail system");
  if (foreground) {
    auto args = master_argv(ctx, "-d");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    fatal_exit(fmt::format("cannot start-fg the master daemon: {}: {}", args[0], std::strerror(errno)));
  }
  if (run_program(master_argv(ctx, "-w")) != 0) fatal_exit("mail system startup failed");
  return 0;
}

int cmd_stop(const Context& ctx, bool abort) {
  require_running(ctx);
  pid_t pid = master_pid(ctx);
  if (pid <= 0) fatal_exit("cannot read " + ctx.pid_path);
  if (abort) {
    log::info("aborting the Postfix mail system");
    ::kill(pid, SIGQUIT);
    return 0;
  }
  log::info("stopping the Postfix mail system");
  ::kill(pid, SIGTERM);
  for (int second = 0; second < 10; ++second) {
    for (int i = 0; i < 10; ++i) {
      if (!master_running(ctx)) return 0;
      ::usleep(100000);
    }
    log::info("waiting for the Postfix mail system to terminate");
  }
  log::warn("stopping the Postfix mail system with force");
  ::kill(-pid, SIGKILL);
  return 0;
}

int cmd_reload(const Context& ctx) {
  require_running(ctx);
  log::info("refreshing the Postfix mail system");
  ::kill(master_pid(ctx), SIGHUP);
  return 0;
}

int cmd_status(const Context& ctx) {
  if (!master_running(ctx)) {
    log::info("the Postfix mail system is not running");
    return 1;
  }
  log::info("the Postfix mail system is running: PID: {}", master_pid(ctx));
  return 0;
}

int cmd_flush(const Context& ctx) {
  if (!is_directory(ctx.queue_dir)) fatal_exit("no Postfix queue directory " + ctx.queue_dir + "!");
  std::string request{kTriggerFlushDead, kTriggerScanAll, kTriggerScanDeferred, kTriggerScanIncoming};
  if (auto s = mail_trigger(ctx.queue_dir, "public", "qmgr", request); !s) {
    log::debug("{}", s.error().text);
    fatal_exit("Cannot flush mail queue - mail system is down");
  }
  return 0;
}

int cmd_set_permissions(const Context& ctx) {
  auto owners = resolve_owners(config());
  if (!owners) fatal_exit(owners.error().text);
  if (auto s = create_queue_directories(config(), *owners, true); !s) fatal_exit(s.error().text);
  return 0;
}

int cmd_logrotate(const Context& ctx) {
  const Config& cfg = config();
  std::string file = cfg.get("maillog_file");
  std::string compressor = cfg.get("maillog_file_compressor");
  std::string suffix_format = cfg.get("maillog_file_rotate_suffix");
  for (auto [name, value] : {std::pair{"maillog_file", file}, {"maillog_file_compressor", compressor},
                             {"maillog_file_rotate_suffix", suffix_format}})
    if (value.empty())
      fatal_exit(fmt::format("empty '{}' parameter value - logfile rotation failed", name));
  if (file.starts_with("/dev/")) fatal_exit(fmt::format("not rotating '{}'", file));
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char suffix[256];
  if (std::strftime(suffix, sizeof suffix, suffix_format.c_str(), &tm) == 0)
    fatal_exit(fmt::format("logfile '{}' rotation failed: bad maillog_file_rotate_suffix", file));
  std::string rotated = file + "." + suffix;
  if (::rename(file.c_str(), rotated.c_str()) < 0)
    fatal_exit(fmt::format("logfile '{}' rotation failed: mv: {}", file, std::strerror(errno)));
  if (master_running(ctx)) ::kill(master_pid(ctx), SIGHUP);  // postlogd reopens the file
  ::sleep(1);
  std::string program = compressor;
  if (program.find('/') == std::string::npos) {
    for (auto dir : split(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin", ":")) {
      std::string candidate = std::string(dir) + "/" + compressor;
      if (::access(candidate.c_str(), X_OK) == 0) {
        program = candidate;
        break;
      }
    }
  }
  if (int rc = run_program({program, rotated}); rc != 0)
    fatal_exit(fmt::format("logfile '{}' rotation failed: {} exit status {}", file, compressor, rc));
  return 0;
}

[[noreturn]] void usage() {
  log::set_stderr("postfix");
  fatal_exit("usage: postfix [-c config_dir] [-Dv] command");
}

}  // namespace

int main(int argc, char** argv) {
  log::init("postfix-script", "postfix/postfix-script");
  Context ctx;
  int opt;
  while ((opt = ::getopt(argc, argv, "c:Dv")) != -1) {
    switch (opt) {
      case 'c': ctx.config_dir = optarg; break;
      case 'D': break;
      case 'v': ++ctx.verbose; break;
      default: usage();
    }
  }
  if (optind >= argc) usage();
  std::string command = argv[optind];
  if (ctx.config_dir.empty()) ctx.config_dir = default_config_directory();
  // Children and reloads run elsewhere (queue_directory): keep the path absolute.
  if (!ctx.config_dir.starts_with("/")) ctx.config_dir = std::filesystem::absolute(ctx.config_dir).lexically_normal().string();
  ::setenv("MAIL_CONFIG", ctx.config_dir.c_str(), 1);
  log::set_verbose(ctx.verbose);
  auto cfg = Config::load(ctx.config_dir);
  if (!cfg) {
    log::set_stderr("postfix");
    fatal_exit(cfg.error().text);
  }
  set_config(*cfg);
  log::Settings ls = mail_log_settings(*cfg);
  ls.postlog_socket.clear();
  log::configure(ls);
  ctx.queue_dir = cfg->get("queue_directory");
  ctx.daemon_dir = cfg->get("daemon_directory");
  ctx.pid_path = ctx.queue_dir + "/pid/master.pid";
  if (command != "check" && command != "set-permissions" && ::chdir(ctx.queue_dir.c_str()) < 0 &&
      command != "start" && command != "start-fg" && command != "status")
    fatal_exit(fmt::format("no Postfix queue directory {}!", ctx.queue_dir));

  bool extra_args = optind + 1 < argc;
  if (extra_args && command != "check")
    fatal_exit(fmt::format("usage postfix {} (no arguments)", command));
  if (command == "start") return cmd_start(ctx, false);
  if (command == "start-fg") return cmd_start(ctx, true);
  if (command == "stop") return cmd_stop(ctx, false);
  if (command == "abort") return cmd_stop(ctx, true);
  if (command == "reload") return cmd_reload(ctx);
  if (command == "status") return cmd_status(ctx);
  if (command == "flush") return cmd_flush(ctx);
  if (command == "check") {
    do_check(ctx, true);
    return 0;
  }
  if (command == "set-permissions") return cmd_set_permissions(ctx);
  if (command == "upgrade-configuration") return cmd_upgrade_configuration(ctx);
  if (command == "logrotate") return cmd_logrotate(ctx);
  fatal_exit(fmt::format("unknown command: '{}'. Usage: postfix {}", command, kUsageCommands));
}
