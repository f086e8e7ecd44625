#include "util/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "util/stream.h"
#include "util/unique_fd.h"

namespace postern {

Status replace_file_atomically(const std::string& path, std::string_view contents,
                               int default_mode) {
  struct stat old {};
  bool had_old = ::stat(path.c_str(), &old) == 0;
  std::string tmp = fmt::format("{}.{}.tmp", path, ::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                     had_old ? (old.st_mode & 07777) : default_mode));
  if (!fd) return sys_fail("create " + tmp);
  auto cleanup_fail = [&](Error e) -> Status {
    ::unlink(tmp.c_str());
    return std::unexpected(std::move(e));
  };
  if (auto w = write_all(fd.get(), contents); !w) return cleanup_fail(w.error());
  if (had_old) {
    ::fchmod(fd.get(), old.st_mode & 07777);
    if (::geteuid() == 0) (void)!::fchown(fd.get(), old.st_uid, old.st_gid);
  }
  if (::fsync(fd.get()) < 0) return cleanup_fail(sys_error("fsync " + tmp));
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) < 0) return cleanup_fail(sys_error("rename " + tmp));
  return {};
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string dirname_of(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string basename_of(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace postern
