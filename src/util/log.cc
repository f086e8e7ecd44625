#include "util/log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

namespace postern::log {
namespace {

struct State {
  std::string program = "postern";
  std::string stderr_prefix;
  std::string tag_override;
  bool to_syslog = true;
  bool syslog_open = false;
  int verbose = 0;
  Settings settings;
  ExitHook exit_hook = nullptr;
};

State& state() {
  static State s;
  return s;
}

const char* level_prefix(Level level) {
  switch (level) {
    case Level::kInfo: return "";
    case Level::kWarning: return "warning: ";
    case Level::kError: return "error: ";
    case Level::kFatal: return "fatal: ";
    case Level::kPanic: return "panic: ";
  }
  return "";
}

int syslog_priority(Level level) {
  switch (level) {
    case Level::kInfo: return LOG_INFO;
    case Level::kWarning: return LOG_WARNING;
    case Level::kError: return LOG_ERR;
    case Level::kFatal: return LOG_CRIT;
    case Level::kPanic: return LOG_ALERT;
  }
  return LOG_INFO;
}

int facility_code(std::string_view name) {
  struct Entry { const char* name; int code; };
  static const Entry table[] = {
      {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
      {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
      {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
      {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}, {"auth", LOG_AUTH},
  };
  for (const auto& e : table)
    if (name == e.name) return e.code;
  return LOG_MAIL;
}

// Sends one line to postlogd; false when nobody listens there. The socket
// stays connected between lines (a socket per line cost more than the
// line); it is checked by inode before each use, so a descriptor that was
// closed and reused for something else is never written to.
bool send_to_postlog(const std::string& socket_path, const std::string& line) {
  if (socket_path.empty() || socket_path.size() >= sizeof(sockaddr_un::sun_path)) return false;
  static std::mutex mutex;
  static int fd = -1;
  static dev_t dev = 0;
  static ino_t ino = 0;
  static std::string path;
  std::lock_guard<std::mutex> lock(mutex);
  for (int attempt = 0; attempt < 2; ++attempt) {
    struct stat st {};
    bool ours = fd >= 0 && path == socket_path && ::fstat(fd, &st) == 0 && st.st_dev == dev &&
                st.st_ino == ino && S_ISSOCK(st.st_mode);
    if (!ours) {
      if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino) ::close(fd);
      fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return false;
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
          ::fstat(fd, &st) != 0) {
        ::close(fd);
        fd = -1;
        return false;
      }
      dev = st.st_dev;
      ino = st.st_ino;
      path = socket_path;
    }
    ssize_t n = ::send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    // A full postlogd queue (net.unix.max_dgram_qlen is small) is a burst,
    // not an absence: wait for room a little while rather than drop the line.
    for (int waited_ms = 0; n < 0 && errno == EAGAIN && waited_ms < 2000; waited_ms += 50) {
      struct pollfd p{fd, POLLOUT, 0};
      (void)::poll(&p, 1, 50);
      n = ::send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (n == static_cast<ssize_t>(line.size())) return true;
    // postlogd restarted (its socket is new): connect again, once.
    if (n >= 0 || (errno != ECONNREFUSED && errno != ENOTCONN && errno != EPIPE)) return false;
    ::close(fd);
    fd = -1;
  }
  return false;
}

void append_to_file(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::string with_newline = line + "\n";
  ssize_t ignored = ::write(fd, with_newline.data(), with_newline.size());
  (void)ignored;
  ::close(fd);
}

void write_stderr(const std::string& text) {
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

}  // namespace

void init(std::string_view program, std::string_view stderr_prefix) {
  State& s = state();
  s.program = std::string(program);
  s.stderr_prefix = std::string(stderr_prefix);
  if (const char* name = std::getenv("MAIL_LOGTAG"); name && *name) s.settings.syslog_name = name;
}

void configure(const Settings& settings) {
  State& s = state();
  s.settings = settings;
  if (s.syslog_open) {
    ::closelog();
    s.syslog_open = false;
  }
}

void disable_syslog() { state().to_syslog = false; }
void set_stderr(std::string_view prefix) { state().stderr_prefix = std::string(prefix); }

int verbose() { return state().verbose; }
void set_verbose(int level) { state().verbose = level; }
void increase_verbose() { ++state().verbose; }
void set_exit_hook(ExitHook hook) { state().exit_hook = hook; }
const std::string& program() { return state().program; }

void set_tag(std::string_view full_tag) {
  state().tag_override = std::string(full_tag);
  configure(state().settings);  // reopen syslog with the new ident
}

std::string tag() {
  const State& s = state();
  if (!s.tag_override.empty()) return s.tag_override;
  return s.settings.syslog_name + "/" + s.program;
}

std::string format_file_line(std::string_view hostname, std::string_view tag, int pid,
                             Level level, std::string_view text, long long unix_time) {
  std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%b %d %H:%M:%S", &tm);
  return fmt::format("{} {} {}[{}]: {}{}", stamp, hostname, tag, pid, level_prefix(level), text);
}

void emit(Level level, std::string_view text) {
  State& s = state();
  int saved_errno = errno;
  if (!s.stderr_prefix.empty())
    write_stderr(fmt::format("{}: {}{}\n", s.stderr_prefix, level_prefix(level), text));
  if (s.to_syslog) {
    const std::string tag_text = tag();
    if (!s.settings.maillog_file.empty()) {
      std::string line = format_file_line(s.settings.hostname, tag_text, ::getpid(), level, text,
                                          static_cast<long long>(std::time(nullptr)));
      if (!send_to_postlog(s.settings.postlog_socket, line))
        append_to_file(s.settings.maillog_file, line);
    } else {
      if (!s.syslog_open) {
        static std::string ident;  // openlog keeps the pointer
        ident = tag_text;
        ::openlog(ident.c_str(), LOG_PID | LOG_NDELAY, facility_code(s.settings.syslog_facility));
        s.syslog_open = true;
      }
      std::string line = std::string(level_prefix(level)) + std::string(text);
      ::syslog(syslog_priority(level), "%s", line.c_str());
    }
  }
  errno = saved_errno;
}

void emit_fatal(std::string_view text) {
  emit(Level::kFatal, text);
  if (state().exit_hook) state().exit_hook(1);
  std::exit(1);
}

void emit_panic(std::string_view text) {
  emit(Level::kPanic, text);
  if (state().exit_hook) state().exit_hook(2);
  std::abort();
}

}  // namespace postern::log
