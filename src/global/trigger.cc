#include "global/trigger.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/socket.h"
#include "util/stream.h"
#include "util/unique_fd.h"

namespace postern {

Status trigger_unix(const std::string& path, std::string_view data,
                    std::chrono::milliseconds timeout) {
  auto fd = connect_unix(path, Clock::now() + timeout);
  if (!fd) return std::unexpected(fd.error());
  if (auto w = write_all(fd->get(), data); !w)
    return fail(w.error().code, "write to " + path + ": " + w.error().text);
  return {};
}

Status trigger_fifo(const std::string& path, std::string_view data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return sys_fail("open " + path);
  ssize_t n = ::write(fd.get(), data.data(), data.size());
  if (n != static_cast<ssize_t>(data.size())) return sys_fail("write " + path);
  return {};
}

Status mail_trigger(const std::string& queue_dir, std::string_view service_class,
                    std::string_view name, std::string_view data) {
  std::string path = queue_dir + "/" + std::string(service_class) + "/" + std::string(name);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode)) return trigger_fifo(path, data);
  return trigger_unix(path, data);
}

}  // namespace postern
