// Process helpers: daemonizing, the one-instance pid-file lock, and the
// one function that drops privileges (groups, gid, uid, chroot).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "util/error.h"
#include "util/unique_fd.h"

namespace postern {

// Detaches from the terminal: fork, setsid, stdin/stdout/stderr to
// /dev/null. Returns in the child only.
Status daemonize();

// An exclusive lock on a pid file that holds our pid, right-aligned in 32
// columns plus a newline as Postfix writes it. The lock lives as long as
// the object. kExists when another live process holds the lock.
class PidFileLock {
 public:
  static Result<PidFileLock> acquire(const std::string& path);
  PidFileLock(PidFileLock&&) = default;
  PidFileLock& operator=(PidFileLock&&) = default;
  // Rewrites the pid (after daemonize() changed it).
  Status write_pid(pid_t pid);
  int fd() const { return fd_.get(); }

 private:
  explicit PidFileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// The pid recorded in a pid file, if the file exists and parses.
std::optional<pid_t> read_pid_file(const std::string& path);
// True when a process with that pid exists (kill(pid, 0) succeeds or EPERM).
bool process_alive(pid_t pid);

struct UserInfo {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
  std::string shell;
};
Result<UserInfo> lookup_user(const std::string& name);
Result<UserInfo> lookup_uid(uid_t uid);
Result<gid_t> lookup_group(const std::string& name);

// Drops to `uid`/`gid` with only that group, chrooting to `chroot_dir` first
// when it is non-empty. A no-op for the parts that already hold (an
// unprivileged instance running as its own user).
Status drop_privileges(uid_t uid, gid_t gid, const std::string& chroot_dir = {});

// Sets FD_CLOEXEC on a descriptor.
void set_close_on_exec(int fd, bool on);

}  // namespace postern
