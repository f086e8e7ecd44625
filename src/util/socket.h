// Socket helpers: listeners of every kind master opens (UNIX stream and
// datagram, FIFO, TCP over IPv4/IPv6), connecting with a deadline,
// passing descriptors over UNIX sockets, and peer/local addresses.
//
// Every descriptor returned is close-on-exec; listeners are non-blocking
// (several processes may wait on one, and only one wins accept()).
#pragma once

#include <sys/types.h>

#include <string>

#include "util/error.h"
#include "util/inet.h"
#include "util/stream.h"
#include "util/unique_fd.h"

namespace postern {

void set_nonblocking(int fd, bool on);

// A listening UNIX stream socket at `path` (an old socket there is removed).
Result<UniqueFd> listen_unix(const std::string& path, int backlog, mode_t mode = 0666);
// A bound UNIX datagram socket at `path` (an old one is removed).
Result<UniqueFd> bind_unix_dgram(const std::string& path, mode_t mode = 0666);
// A FIFO at `path`, created when missing, opened read-write so that it never
// reports end-of-file when the last writer leaves.
Result<UniqueFd> open_fifo_listener(const std::string& path, mode_t mode = 0622);
// A listening TCP socket on `host` ("" or "0.0.0.0" / "::" for all
// addresses of that family; IPv6 sockets are IPv6-only) and `port`.
// Errors read "bind 127.0.0.1 port 25: Address already in use".
Result<UniqueFd> listen_inet(const std::string& host, int port, int backlog);

// Accepts one connection from a non-blocking listener. kTemporary when
// no connection is waiting (another process took it).
Result<UniqueFd> accept_connection(int listen_fd);

// Connects to a UNIX stream socket, waiting at most until `deadline`.
Result<UniqueFd> connect_unix(const std::string& path, Deadline deadline);
// Connects to a numeric IPv4/IPv6 address and port before `deadline`.
Result<UniqueFd> connect_inet(const std::string& host, int port, Deadline deadline);
// Sends one datagram to a UNIX datagram socket without blocking.
Status send_unix_dgram(const std::string& path, std::string_view data);

// Passes `fd` (with one data byte) over a UNIX stream socket.
Status send_fd(int sock, int fd);
// Sends `data` (a few bytes, sent whole or not at all) with descriptor `fd`
// attached (none when fd < 0).
Status send_with_fd(int sock, std::string_view data, int fd);
// Receives up to `len` bytes and, when one came with them, a descriptor
// into *fd; waits until `deadline`. kEof when the peer closed.
Result<size_t> receive_with_fd(int sock, char* buf, size_t len, Deadline deadline, UniqueFd* fd);
// Receives a descriptor sent with send_fd(), waiting until `deadline`.
Result<UniqueFd> receive_fd(int sock, Deadline deadline);

struct SocketAddress {
  int family = 0;          // AF_UNIX, AF_INET, AF_INET6
  std::string path;        // AF_UNIX
  IpAddress address;       // AF_INET/AF_INET6 (IPv4-mapped addresses unmapped)
  int port = 0;
  // "127.0.0.1:25", "[::1]:25", or the socket path.
  std::string to_string() const;
};
Result<SocketAddress> peer_address(int fd);
Result<SocketAddress> local_address(int fd);

}  // namespace postern
