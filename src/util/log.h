// Logging with Postfix's line format and levels.
//
// A line reads "<tag>[pid]: [level: ]text" where the tag is
// "<syslog_name>/<program>" (postfix/smtpd). Levels: info, warning, error,
// fatal (logs, then exits 1), panic (logs, then aborts). Destinations:
//   - stderr, for commands: "<argv0>: [level: ]text"
//   - syslog (/dev/log), the default for daemons
//   - maillog_file, when set: through the postlog socket if postlogd is
//     listening, else appended to the file directly; the line then starts
//     with "Mon dd HH:MM:SS host ".
// Processes are single-threaded; this module keeps process-global state.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace postern::log {

enum class Level { kInfo, kWarning, kError, kFatal, kPanic };

// Starts logging for a program. `program` is the name in the tag ("smtpd",
// "postconf"); `stderr_prefix`, when non-empty, turns on stderr output with
// that prefix (commands pass argv[0]). Syslog is on until configure() says
// otherwise.
void init(std::string_view program, std::string_view stderr_prefix = {});

// Settings that come from main.cf once it has been read.
struct Settings {
  std::string syslog_name = "postfix";  // $syslog_name
  std::string syslog_facility = "mail";
  std::string maillog_file;             // empty: use syslog
  std::string postlog_socket;           // $queue_directory/public/postlog
  std::string hostname = "localhost";   // first label of $myhostname
};
void configure(const Settings& settings);

// Turns syslog output off (commands that only talk to the terminal).
void disable_syslog();
// Turns stderr output on or off (daemons turn it on with -d or in tests).
void set_stderr(std::string_view prefix);

int verbose();
void set_verbose(int level);
void increase_verbose();

// Where fatal() and panic() go after logging; tests may replace it.
using ExitHook = void (*)(int status);
void set_exit_hook(ExitHook hook);

void emit(Level level, std::string_view text);
[[noreturn]] void emit_fatal(std::string_view text);
[[noreturn]] void emit_panic(std::string_view text);

// The program name given to init().
const std::string& program();
// The full tag, e.g. "postfix/smtpd".
std::string tag();
// Replaces the whole tag (postlog -t); empty restores "<syslog_name>/<program>".
void set_tag(std::string_view full_tag);

// Formats one line as it appears in maillog_file (without the newline).
std::string format_file_line(std::string_view hostname, std::string_view tag, int pid,
                             Level level, std::string_view text, long long unix_time);

template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  emit(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  emit(Level::kWarning, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  emit(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
[[noreturn]] void fatal(fmt::format_string<Args...> f, Args&&... args) {
  emit_fatal(fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
[[noreturn]] void panic(fmt::format_string<Args...> f, Args&&... args) {
  emit_panic(fmt::format(f, std::forward<Args>(args)...));
}
// Logged at info level only when -v was given.
template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (verbose() > 0) emit(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace postern::log
