#include "util/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "util/stream.h"
#include "util/strings.h"

namespace postern {

Status daemonize() {
  pid_t pid = ::fork();
  if (pid < 0) return sys_fail("fork");
  if (pid > 0) ::_exit(0);
  if (::setsid() < 0) return sys_fail("setsid");
  int null_fd = ::open("/dev/null", O_RDWR);
  if (null_fd < 0) return sys_fail("open /dev/null");
  for (int fd = 0; fd < 3; ++fd) ::dup2(null_fd, fd);
  if (null_fd > 2) ::close(null_fd);
  return {};
}

Result<PidFileLock> PidFileLock::acquire(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return sys_fail("open lock file " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
    if (errno == EWOULDBLOCK) return fail(Errc::kExists, path + ": locked by another process");
    return sys_fail("lock " + path);
  }
  PidFileLock lock(std::move(fd));
  if (auto w = lock.write_pid(::getpid()); !w) return std::unexpected(w.error());
  return lock;
}

Status PidFileLock::write_pid(pid_t pid) {
  std::string text = fmt::format("{:>32}\n", pid);
  if (::ftruncate(fd_.get(), 0) < 0) return sys_fail("truncate pid file");
  if (::pwrite(fd_.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
    return sys_fail("write pid file");
  return {};
}

std::optional<pid_t> read_pid_file(const std::string& path) {
  auto text = read_file(path, 4096);
  if (!text) return std::nullopt;
  auto value = parse_long(trim(*text));
  if (!value || *value <= 0) return std::nullopt;
  return static_cast<pid_t>(*value);
}

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

static UserInfo from_passwd(const passwd& pw) {
  return UserInfo{pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : "",
                  pw.pw_shell ? pw.pw_shell : ""};
}

Result<UserInfo> lookup_user(const std::string& name) {
  char buf[16384];
  passwd pw{};
  passwd* found = nullptr;
  int rc = ::getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &found);
  if (rc != 0) return fail(Errc::kTemporary, fmt::format("getpwnam {}: {}", name, rc));
  if (!found) return fail(Errc::kNotFound, "unknown user: " + name);
  return from_passwd(pw);
}

Result<UserInfo> lookup_uid(uid_t uid) {
  char buf[16384];
  passwd pw{};
  passwd* found = nullptr;
  int rc = ::getpwuid_r(uid, &pw, buf, sizeof buf, &found);
  if (rc != 0) return fail(Errc::kTemporary, fmt::format("getpwuid {}: {}", uid, rc));
  if (!found) return fail(Errc::kNotFound, fmt::format("unknown uid: {}", uid));
  return from_passwd(pw);
}

Result<gid_t> lookup_group(const std::string& name) {
  char buf[16384];
  group gr{};
  group* found = nullptr;
  int rc = ::getgrnam_r(name.c_str(), &gr, buf, sizeof buf, &found);
  if (rc != 0) return fail(Errc::kTemporary, fmt::format("getgrnam {}: {}", name, rc));
  if (!found) return fail(Errc::kNotFound, "unknown group: " + name);
  return found->gr_gid;
}

Status drop_privileges(uid_t uid, gid_t gid, const std::string& chroot_dir) {
  bool root = ::geteuid() == 0;
  if (!chroot_dir.empty()) {
    if (::chroot(chroot_dir.c_str()) < 0) return sys_fail("chroot " + chroot_dir);
    if (::chdir("/") < 0) return sys_fail("chdir /");
  }
  if (!root) return {};
  if (::setgroups(1, &gid) < 0) return sys_fail("setgroups");
  if (::setgid(gid) < 0) return sys_fail(fmt::format("setgid {}", gid));
  if (::setuid(uid) < 0) return sys_fail(fmt::format("setuid {}", uid));
  if (uid != 0 && ::setuid(0) == 0) return fail(Errc::kPermanent, "privileges were not dropped");
  return {};
}

void set_close_on_exec(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) return;
  ::fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}

}  // namespace postern
