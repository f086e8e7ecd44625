#include "global/deliver_command.h"

#include <cstdlib>

#include "util/log.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "util/unique_fd.h"

namespace postern {

Result<CommandResult> run_command(const CommandSpec& spec,
                                  const std::function<Status(int fd)>& feed) {
  if (spec.argv.empty()) return fail(Errc::kInvalid, "empty command");
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return sys_fail("pipe");
  UniqueFd in_r(in[0]), in_w(in[1]);
  UniqueFd out(::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!out) return sys_fail("create command output file");
  std::vector<std::string> argv_s = spec.argv, env_s = spec.env;
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return sys_fail("fork");
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    ::setsid();
    ::dup2(in_r.get(), 0);
    ::dup2(out.get(), 1);
    ::dup2(out.get(), 2);
    if (!spec.chroot.empty() && (::chroot(spec.chroot.c_str()) != 0 || ::chdir("/") != 0)) {
      const char* msg = "cannot change root directory\n";
      (void)!::write(2, msg, std::strlen(msg));
      ::_exit(75);
    }
    if (spec.switch_user && ::geteuid() == 0) {
      ::setgroups(0, nullptr);
      if (::setgid(spec.gid) != 0 || ::setuid(spec.uid) != 0) ::_exit(75);
    }
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0 && spec.cwd_required) {
      const char* msg = "cannot change to the command directory\n";
      (void)!::write(2, msg, std::strlen(msg));
      ::_exit(75);
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    const char* msg = "cannot execute command\n";
    (void)!::write(2, msg, std::strlen(msg));
    ::_exit(127);
  }
  in_r.reset();
  // Feed the input from a thread so a command that never reads cannot
  // block us past the time limit.
  int in_fd = in_w.release();
  std::thread writer([in_fd, &feed] {
    (void)feed(in_fd);
    ::close(in_fd);
  });
  CommandResult r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(spec.time_limit);
  int status = 0;
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() > deadline) {
      r.timed_out = true;
      log::warn("pipe_command_read: read time limit exceeded");
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  writer.join();
  if (WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  char buf[1024];
  ssize_t n = ::pread(out.get(), buf, sizeof(buf), 0);
  if (n > 0) r.output.assign(buf, static_cast<size_t>(n));
  // As Postfix: tabs and line ends become spaces (a trailing newline too,
  // so failure texts end in "output )").
  for (auto& c : r.output)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return r;
}

namespace {

// sysexits.h codes as Postfix maps them to status codes and texts.
struct SysExit {
  int code;
  const char* dsn;
  const char* text;
};
constexpr SysExit kSysExits[] = {
    {64, "5.3.0", "command line usage error"},
    {65, "5.6.0", "data format error"},
    {66, "5.3.0", "cannot open input"},
    {67, "5.1.1", "user unknown"},
    {68, "5.1.2", "host name unknown"},
    {69, "5.3.0", "service unavailable"},
    {70, "5.3.0", "internal software error"},
    {71, "4.3.0", "system resource problem"},
    {72, "5.3.0", "critical OS file missing"},
    {73, "5.2.0", "can't create user output file"},
    {74, "5.3.0", "input/output error"},
    {75, "4.3.0", "temporary failure"},
    {76, "5.5.0", "remote error in protocol"},
    {77, "5.7.0", "permission denied"},
    {78, "5.3.5", "local configuration error"},
};

}  // namespace

std::vector<std::string> exported_environment(const std::vector<std::string>& names) {
  std::vector<std::string> env;
  for (const auto& n : names) {
    if (n.find('=') != std::string::npos) {
      env.push_back(n);
    } else if (const char* v = std::getenv(n.c_str()); v) {
      env.push_back(n + "=" + v);
    }
  }
  return env;
}

DsnResult command_dsn(const CommandResult& r, const std::string& command,
                      const std::string& ok_text) {
  DsnResult d;
  std::string out = r.output.empty() ? "" : ". Command output: " + r.output;
  if (r.timed_out) {
    d.status = "5.3.0";  // Postfix returns mail whose command hangs
    d.reason = "Command time limit exceeded: \"" + command + "\"" + out;
  } else if (r.signal) {
    d.status = "4.3.0";
    d.reason = "Command died with signal " + std::to_string(r.signal) + ": \"" + command + "\"" + out;
  } else if (r.exit_status == 0) {
    d.status = "2.0.0";
    d.reason = ok_text;
  } else {
    d.status = "5.3.0";
    d.reason = "Command died with status " + std::to_string(r.exit_status) + ": \"" + command +
               "\"" + out;
    for (const auto& e : kSysExits) {
      if (e.code == r.exit_status) {
        d.status = e.dsn;
        d.reason = std::string(e.text) + ". Command output: " +
                   (r.output.empty() ? std::string("(none)") : r.output);
        if (r.output.empty()) d.reason = e.text;
      }
    }
  }
  return d;
}

}  // namespace postern
