#include "util/socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace postern {
namespace {

Result<socklen_t> unix_address(const std::string& path, sockaddr_un* addr) {
  if (path.empty() || path.size() >= sizeof(addr->sun_path))
    return fail(Errc::kInvalid, "socket path too long or empty: " + path);
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  return static_cast<socklen_t>(sizeof(sockaddr_un));
}

// Waits for a non-blocking connect() to finish and reports its outcome.
Status finish_connect(int fd, Deadline deadline, const std::string& what) {
  if (auto w = wait_fd(fd, POLLOUT, deadline); !w)
    return fail(w.error().code, "connect to " + what + ": " + w.error().text);
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return sys_fail("getsockopt");
  if (err != 0) return std::unexpected(sys_error("connect to " + what, err));
  return {};
}

SocketAddress from_storage(const sockaddr_storage& ss, socklen_t len) {
  SocketAddress a;
  a.family = ss.ss_family;
  if (ss.ss_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&ss);
    size_t max = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    a.path = std::string(un->sun_path, strnlen(un->sun_path, std::min(max, sizeof(un->sun_path))));
  } else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
    a.address = IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss)).unmapped();
    a.port = ss.ss_family == AF_INET
                 ? ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port)
                 : ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    if (a.address.is_v4()) a.family = AF_INET;
  }
  return a;
}

}  // namespace

void set_nonblocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return;
  ::fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

Result<UniqueFd> listen_unix(const std::string& path, int backlog, mode_t mode) {
  sockaddr_un addr;
  auto len = unix_address(path, &addr);
  if (!len) return std::unexpected(len.error());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return sys_fail("socket");
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), *len) < 0)
    return sys_fail("bind " + path);
  if (::chmod(path.c_str(), mode) < 0) return sys_fail("chmod " + path);
  if (::listen(fd.get(), backlog) < 0) return sys_fail("listen " + path);
  return fd;
}

Result<UniqueFd> bind_unix_dgram(const std::string& path, mode_t mode) {
  sockaddr_un addr;
  auto len = unix_address(path, &addr);
  if (!len) return std::unexpected(len.error());
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return sys_fail("socket");
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), *len) < 0)
    return sys_fail("bind " + path);
  if (::chmod(path.c_str(), mode) < 0) return sys_fail("chmod " + path);
  return fd;
}

Result<UniqueFd> open_fifo_listener(const std::string& path, mode_t mode) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && !S_ISFIFO(st.st_mode)) ::unlink(path.c_str());
  if (::mkfifo(path.c_str(), mode) < 0 && errno != EEXIST) return sys_fail("mkfifo " + path);
  if (::chmod(path.c_str(), mode) < 0) return sys_fail("chmod " + path);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return sys_fail("open " + path);
  return fd;
}

Result<UniqueFd> listen_inet(const std::string& host, int port, int backlog) {
  std::optional<IpAddress> ip;
  if (host.empty())
    ip = IpAddress::parse("0.0.0.0");
  else
    ip = IpAddress::parse(host);
  if (!ip) return fail(Errc::kInvalid, "bad listen address: " + host);
  sockaddr_storage ss;
  socklen_t len = ip->to_sockaddr(&ss, port);
  UniqueFd fd(::socket(ip->family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return sys_fail(fmt::format("socket {}", ip->is_v6() ? "AF_INET6" : "AF_INET"));
  int on = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (ip->is_v6()) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0)
    return sys_fail(fmt::format("bind {} port {}", ip->to_string(), port));
  if (::listen(fd.get(), backlog) < 0) return sys_fail(fmt::format("listen port {}", port));
  return fd;
}

Result<UniqueFd> accept_connection(int listen_fd) {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      set_nonblocking(fd, false);
      return UniqueFd(fd);
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return fail(Errc::kTemporary, "no connection waiting");
    return sys_fail("accept");
  }
}

Result<UniqueFd> connect_unix(const std::string& path, Deadline deadline) {
  sockaddr_un addr;
  auto len = unix_address(path, &addr);
  if (!len) return std::unexpected(len.error());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return sys_fail("socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), *len) < 0) {
    // A UNIX socket whose backlog is full says EAGAIN; treat it like EINPROGRESS.
    if (errno == EAGAIN) {
      for (;;) {
        if (Clock::now() >= deadline) return fail(Errc::kTimeout, "connect to " + path + ": timeout");
        ::usleep(10000);
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), *len) == 0) break;
        if (errno != EAGAIN) return sys_fail("connect to " + path);
      }
    } else if (errno == EINPROGRESS) {
      if (auto s = finish_connect(fd.get(), deadline, path); !s) return std::unexpected(s.error());
    } else {
      return sys_fail("connect to " + path);
    }
  }
  set_nonblocking(fd.get(), false);
  return fd;
}

Result<UniqueFd> connect_inet(const std::string& host, int port, Deadline deadline) {
  auto ip = IpAddress::parse(host);
  if (!ip) return fail(Errc::kInvalid, "bad address: " + host);
  sockaddr_storage ss;
  socklen_t len = ip->to_sockaddr(&ss, port);
  std::string what = fmt::format("{}:{}", ip->to_string(), port);
  UniqueFd fd(::socket(ip->family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return sys_fail("socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    if (errno != EINPROGRESS) return sys_fail("connect to " + what);
    if (auto s = finish_connect(fd.get(), deadline, what); !s) return std::unexpected(s.error());
  }
  set_nonblocking(fd.get(), false);
  return fd;
}

Status send_unix_dgram(const std::string& path, std::string_view data) {
  sockaddr_un addr;
  auto len = unix_address(path, &addr);
  if (!len) return std::unexpected(len.error());
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return sys_fail("socket");
  if (::sendto(fd.get(), data.data(), data.size(), MSG_DONTWAIT,
               reinterpret_cast<sockaddr*>(&addr), *len) < 0)
    return sys_fail("send to " + path);
  return {};
}

Status send_with_fd(int sock, std::string_view data, int fd) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_fail("send descriptor");
  if (static_cast<size_t>(n) != data.size()) return fail(Errc::kIo, "send descriptor: short send");
  return {};
}

Result<size_t> receive_with_fd(int sock, char* buf, size_t len, Deadline deadline, UniqueFd* fd) {
  if (auto w = wait_fd(sock, POLLIN, deadline); !w)
    return fail(w.error().code, "receive descriptor: " + w.error().text);
  iovec iov{buf, len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_fail("receive descriptor");
  if (n == 0) return fail(Errc::kEof, "receive descriptor: lost connection");
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
      int received;
      std::memcpy(&received, CMSG_DATA(cm), sizeof(int));
      fd->reset(received);
    }
  }
  return static_cast<size_t>(n);
}

Status send_fd(int sock, int fd) { return send_with_fd(sock, std::string_view("\0", 1), fd); }

Result<UniqueFd> receive_fd(int sock, Deadline deadline) {
  char byte;
  UniqueFd fd;
  if (auto n = receive_with_fd(sock, &byte, 1, deadline, &fd); !n) return std::unexpected(n.error());
  if (!fd) return fail(Errc::kInvalid, "receive descriptor: no descriptor in message");
  return fd;
}

std::string SocketAddress::to_string() const {
  if (family == AF_UNIX) return path;
  if (address.is_v6()) return fmt::format("[{}]:{}", address.to_string(), port);
  return fmt::format("{}:{}", address.to_string(), port);
}

Result<SocketAddress> peer_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return sys_fail("getpeername");
  return from_storage(ss, len);
}

Result<SocketAddress> local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return sys_fail("getsockname");
  return from_storage(ss, len);
}

}  // namespace postern
