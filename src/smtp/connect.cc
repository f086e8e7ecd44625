#include "smtp/connect.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "util/log.h"
#include "util/socket.h"

namespace postern::smtp {

Result<UniqueFd> connect_server(const Server& srv, const Settings& s, Deadline deadline) {
  if (!srv.unix_path.empty()) return connect_unix(srv.unix_path, deadline);
  int fd = ::socket(srv.addr.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return sys_fail("socket");
  UniqueFd sock(fd);
  const std::string& bind = srv.addr.is_v4() ? s.bind_address : s.bind_address6;
  if (!bind.empty()) {
    auto a = IpAddress::parse(bind);
    if (!a || a->family() != srv.addr.family()) {
      log::warn("{}: bad or mismatched bind address {}", srv.addr.is_v4() ? "smtp_bind_address" : "smtp_bind_address6", bind);
    } else {
      sockaddr_storage ss{};
      socklen_t len = a->to_sockaddr(&ss, 0);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
        log::warn("bind {} port 0: {}", bind, std::strerror(errno));
    }
  }
  sockaddr_storage ss{};
  socklen_t len = srv.addr.to_sockaddr(&ss, srv.port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return fail(Errc::kIo, std::strerror(errno));
    if (auto w = wait_fd(fd, POLLOUT, deadline); !w) {
      if (w.error().code == Errc::kTimeout) return fail(Errc::kTimeout, "Connection timed out");
      return std::unexpected(w.error());
    }
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) return fail(Errc::kIo, std::strerror(err));
  }
  return sock;
}

}  // namespace postern::smtp
