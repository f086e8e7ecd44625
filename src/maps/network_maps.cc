// Tables served over a socket: socketmap: (Sendmail's socketmap protocol,
// netstrings "name key" -> "OK value" / "NOTFOUND " / "TEMP|TIMEOUT|PERM
// reason") at inet:host:port:name or unix:/path:name, and tcp:host:port
// (tcp_table(5): "get key" -> "200 value" / "500 reason" / "400 reason",
// with %XX encoding). Connections are made on first use, kept, and made
// again once when a request fails; every read has a size limit and a
// timeout. A server that does not answer is a temporary failure.
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

#include "maps/openers.h"
#include "util/stream.h"
#include "util/strings.h"

namespace postern::maps {
namespace {

constexpr size_t kMaxSocketmapReply = 100000;  // socketmap_max_reply_size
constexpr size_t kMaxTcpReply = 4096;
constexpr auto kTimeout = std::chrono::seconds(100);

// "inet:host:port", "host:port", "unix:/path" or "/path".
Result<UniqueFd> connect_endpoint(const std::string& endpoint, std::chrono::milliseconds timeout) {
  std::string where = endpoint;
  if (where.starts_with("unix:") || where.starts_with("/")) {
    std::string path = where.starts_with("unix:") ? where.substr(5) : where;
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path.size() >= sizeof sun.sun_path) return fail(Errc::kInvalid, "socket path too long: " + path);
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return sys_fail("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0)
      return fail(Errc::kTemporary, "connect to " + path + ": " + std::strerror(errno));
    return fd;
  }
  if (where.starts_with("inet:")) where = where.substr(5);
  size_t colon = where.rfind(':');
  if (colon == std::string::npos) return fail(Errc::kInvalid, "missing port in \"" + endpoint + "\"");
  std::string host = where.substr(0, colon), port = where.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return fail(Errc::kTemporary, "look up " + host + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);
  std::string last = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (!fd) continue;
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = std::strerror(errno);
        continue;
      }
      if (auto w = wait_fd(fd.get(), POLLOUT, Clock::now() + timeout); !w) {
        last = w.error().text;
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = std::strerror(err);
        continue;
      }
    }
    return fd;
  }
  return fail(Errc::kTemporary, "connect to " + where + ": " + last);
}

class SocketMap : public Map {
 public:
  // Postfix sends the key as given (no case folding) to these servers.
  SocketMap(const std::string& type, const std::string& name, unsigned flags, std::string endpoint)
      : Map(type, name, flags & ~kFoldFixed), endpoint_(std::move(endpoint)) {}

 protected:
  // One request/reply exchange; kIo/kEof/kTimeout errors make the caller
  // reconnect once.
  virtual Result<std::string> exchange(Stream& stream, std::string_view key) = 0;

  Result<std::string> do_lookup(std::string_view key) override {
    for (int attempt = 0;; ++attempt) {
      if (!stream_) {
        auto fd = connect_endpoint(endpoint_, kTimeout);
        if (!fd) return fail(Errc::kTemporary, fd.error().text);
        stream_.emplace(Stream::from_fd(std::move(*fd)));
        stream_->set_timeout(kTimeout);
      }
      auto r = exchange(*stream_, key);
      if (r || r.error().code == Errc::kNotFound || r.error().code == Errc::kTemporary) return r;
      stream_.reset();
      if (attempt > 0) return fail(Errc::kTemporary, endpoint_ + ": " + r.error().text);
    }
  }

 private:
  std::string endpoint_;
  std::optional<Stream> stream_;
};

class SocketmapMap final : public SocketMap {
 public:
  SocketmapMap(const std::string& type, const std::string& name, unsigned flags,
               std::string endpoint, std::string map_name)
      : SocketMap(type, name, flags, std::move(endpoint)), map_name_(std::move(map_name)) {}

 protected:
  Result<std::string> exchange(Stream& stream, std::string_view key) override {
    std::string request = map_name_ + " " + std::string(key);
    if (auto s = stream.write_flush(std::to_string(request.size()) + ":" + request + ","); !s)
      return std::unexpected(s.error());
    auto len_text = stream.read_until(':', 12);
    if (!len_text) return std::unexpected(len_text.error());
    auto len = parse_ulong(*len_text);
    if (!len || *len > kMaxSocketmapReply)
      return fail(Errc::kTemporary, spec() + ": malformed or oversized reply length: " + *len_text);
    auto body = stream.read_exact(*len + 1);
    if (!body) return std::unexpected(body.error());
    if (body->back() != ',') return fail(Errc::kTemporary, spec() + ": malformed netstring reply");
    body->pop_back();
    std::string_view reply = *body;
    size_t sp = reply.find(' ');
    std::string_view status = reply.substr(0, sp);
    std::string_view text = sp == std::string_view::npos ? std::string_view{} : reply.substr(sp + 1);
    if (status == "OK") return std::string(text);
    if (status == "NOTFOUND") return fail(Errc::kNotFound, "not found");
    if (status == "TEMP" || status == "TIMEOUT" || status == "PERM")
      return fail(Errc::kTemporary, fmt::format("{}: {} {}", spec(), status, text));
    return fail(Errc::kTemporary, spec() + ": malformed reply: " + printable(reply.substr(0, 100)));
  }

 private:
  std::string map_name_;
};

// %XX-encodes white space, '%' and non-printable bytes (tcp_table(5)).
std::string tcp_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c <= ' ' || c >= 0x7f || c == '%') out += fmt::format("%{:02X}", c);
    else out.push_back(char(c));
  }
  return out;
}

std::string tcp_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(char(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

class TcpMap final : public SocketMap {
 public:
  using SocketMap::SocketMap;

 protected:
  Result<std::string> exchange(Stream& stream, std::string_view key) override {
    if (auto s = stream.write_flush("get " + tcp_encode(key) + "\n"); !s) return std::unexpected(s.error());
    bool complete = false;
    auto line = stream.read_line(kMaxTcpReply, &complete);
    if (!line) return std::unexpected(line.error());
    if (!complete) return fail(Errc::kTemporary, spec() + ": reply too long");
    std::string_view reply = trim_right(*line, "\r");
    std::string_view code = reply.substr(0, 3);
    std::string_view text = reply.size() > 4 ? reply.substr(4) : std::string_view{};
    if (reply.size() >= 3 && (reply.size() == 3 || reply[3] == ' ')) {
      if (code == "200") return tcp_decode(text);
      if (code == "500") return fail(Errc::kNotFound, "not found");
      if (code == "400") return fail(Errc::kTemporary, spec() + ": " + tcp_decode(text));
    }
    return fail(Errc::kTemporary, spec() + ": malformed reply: " + printable(reply.substr(0, 100)));
  }
};

}  // namespace

// socketmap:inet:host:port:name or socketmap:unix:/path:name
Result<MapPtr> open_socketmap(const std::string& type, const std::string& name, unsigned flags) {
  size_t last = name.rfind(':');
  if ((!name.starts_with("inet:") && !name.starts_with("unix:")) || last == std::string::npos ||
      last + 1 == name.size() || last <= 5)
    return fail(Errc::kInvalid, "socketmap:" + name + ": expected socketmap:inet:host:port:name or "
                                "socketmap:unix:pathname:name");
  return std::make_unique<SocketmapMap>(type, name, flags, name.substr(0, last), name.substr(last + 1));
}

// tcp:host:port
Result<MapPtr> open_tcp(const std::string& type, const std::string& name, unsigned flags) {
  if (name.find(':') == std::string::npos)
    return fail(Errc::kInvalid, "tcp:" + name + ": expected tcp:host:port");
  return std::make_unique<TcpMap>(type, name, flags, "inet:" + name);
}

}  // namespace postern::maps
