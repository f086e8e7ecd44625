// Running a delivery command (local's "|command" and mailbox_command, the
// pipe agent) with the message on its standard input, as a given user,
// within a time limit; and mapping its exit status to a delivery status
// the way Postfix does (sysexits.h codes, EX_TEMPFAIL defers; a command
// killed by a signal defers, one over its time limit is returned).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "global/dsn.h"
#include "util/error.h"

namespace postern {

struct CommandSpec {
  std::vector<std::string> argv;  // argv[0] is the program (searched in PATH)
  uid_t uid = 0;
  gid_t gid = 0;
  bool switch_user = false;       // setgid/setuid before exec (root only)
  std::string chroot;             // "" = none; failure exits 75 (deferred)
  std::string cwd;                // "" = leave as is; failure is ignored
  bool cwd_required = false;      // failure to enter cwd exits 75 (deferred)
  std::vector<std::string> env;   // NAME=value, the whole environment
  long time_limit = 1000;         // seconds; the command is killed after
};

struct CommandResult {
  int exit_status = -1;  // when it exited
  int signal = 0;        // when killed by a signal
  bool timed_out = false;
  std::string output;    // first bytes of stdout+stderr
};

// Runs the command, calling `feed(fd)` to write its standard input (a
// command that stops reading is not an error). kIo when it cannot start.
Result<CommandResult> run_command(const CommandSpec& spec,
                                  const std::function<Status(int fd)>& feed);

// export_environment as NAME=value strings: "NAME=value" items as given,
// plain names from this process's environment when set (MAIL_CONFIG
// lets a filter's sendmail find the instance).
std::vector<std::string> exported_environment(const std::vector<std::string>& names);

// The delivery status for a finished command: 2.0.0 with `ok_text`, or the
// failure ("Command died with status 1: \"cmd\"...").
DsnResult command_dsn(const CommandResult& r, const std::string& command,
                      const std::string& ok_text);

}  // namespace postern
