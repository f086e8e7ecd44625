#include "global/scache_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "global/config.h"
#include "util/socket.h"

namespace postern {

Status scache_write_frame(int sock, const AttrList& attrs, int fd) {
  std::string body = attr_encode(AttrEncoding::kNul, attrs);
  if (body.size() > kScacheMaxFrame) return fail(Errc::kInvalid, "scache message too long");
  unsigned char header[4] = {static_cast<unsigned char>(body.size() >> 24),
                             static_cast<unsigned char>(body.size() >> 16),
                             static_cast<unsigned char>(body.size() >> 8),
                             static_cast<unsigned char>(body.size())};
  if (auto st = send_with_fd(sock, std::string_view(reinterpret_cast<char*>(header), sizeof header), fd);
      !st)
    return fail(st.error().code, "scache: " + st.error().text);
  return write_all(sock, body);
}

namespace {

// Reads exactly `n` bytes into `out` before `deadline`.
Status read_exact_fd(int sock, char* out, size_t n, Deadline deadline) {
  size_t got = 0;
  while (got < n) {
    if (auto w = wait_fd(sock, POLLIN, deadline); !w) return w;
    ssize_t r = ::read(sock, out + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_fail("scache: read");
    if (r == 0) return fail(Errc::kIo, "scache: lost connection");
    got += static_cast<size_t>(r);
  }
  return {};
}

}  // namespace

Result<ScacheFrame> scache_read_frame(int sock, Deadline deadline) {
  unsigned char header[4];
  ScacheFrame frame;
  auto got = receive_with_fd(sock, reinterpret_cast<char*>(header), sizeof header, deadline, &frame.fd);
  if (!got) return fail(got.error().code, "scache: " + got.error().text);
  size_t n = *got;
  if (n < 4) {
    if (auto r = read_exact_fd(sock, reinterpret_cast<char*>(header) + n, 4 - n, deadline); !r)
      return std::unexpected(r.error());
  }
  size_t len = (size_t{header[0]} << 24) | (size_t{header[1]} << 16) | (size_t{header[2]} << 8) |
               size_t{header[3]};
  if (len > kScacheMaxFrame) return fail(Errc::kInvalid, "scache: message too long");
  std::string body(len, '\0');
  if (auto r = read_exact_fd(sock, body.data(), len, deadline); !r)
    return std::unexpected(r.error());
  size_t used = 0;
  auto attrs = attr_decode(body, AttrEncoding::kNul, &used);
  if (!attrs) return std::unexpected(attrs.error());
  if (used != len) return fail(Errc::kInvalid, "scache: trailing bytes in message");
  frame.attrs = std::move(*attrs);
  return frame;
}

ScacheClient::ScacheClient(std::string socket_path, std::chrono::milliseconds timeout)
    : path_(std::move(socket_path)), timeout_(timeout) {}

ScacheClient ScacheClient::from_config(const Config& cfg) {
  long long t = cfg.get_time("connection_cache_protocol_timeout");
  if (t <= 0) t = 5;
  return ScacheClient(
      cfg.get("queue_directory") + "/private/" + cfg.get("connection_cache_service_name"),
      std::chrono::seconds(t));
}

Result<ScacheFrame> ScacheClient::call(const AttrList& request, int fd) {
  for (int attempt = 0;; ++attempt) {
    if (!sock_) {
      auto s = connect_unix(path_, Clock::now() + timeout_);
      if (!s) return std::unexpected(s.error());
      sock_ = std::move(*s);
    }
    auto sent = scache_write_frame(sock_.get(), request, fd);
    Result<ScacheFrame> reply = sent ? scache_read_frame(sock_.get(), Clock::now() + timeout_)
                                     : Result<ScacheFrame>(std::unexpected(sent.error()));
    if (reply) return reply;
    sock_.reset();
    // One more try on a new connection: an idle scache process may have
    // exited since the last request.
    if (attempt > 0) return reply;
  }
}

Status ScacheClient::save_endp(int ttl, std::string_view endp_label, std::string_view endp_prop,
                               int fd) {
  AttrList req;
  req.add("request", "save_endp").add("ttl", ttl).add("label", endp_label);
  req.add("property", endp_prop);
  auto r = call(req, fd);
  if (!r) return std::unexpected(r.error());
  if (r->attrs.number_or("status", -1) != 0) return fail(Errc::kInvalid, "scache refused");
  return {};
}

Result<std::optional<ScacheClient::Endpoint>> ScacheClient::find_endp(std::string_view label) {
  AttrList req;
  req.add("request", "find_endp").add("label", label);
  auto r = call(req);
  if (!r) return std::unexpected(r.error());
  if (r->attrs.number_or("status", -1) != 0 || !r->fd) return std::nullopt;
  return Endpoint{std::string(r->attrs.str("property")), std::move(r->fd)};
}

Status ScacheClient::save_dest(int ttl, std::string_view dest_label, std::string_view dest_prop,
                               std::string_view endp_label) {
  AttrList req;
  req.add("request", "save_dest").add("ttl", ttl).add("label", dest_label);
  req.add("property", dest_prop).add("endp_label", endp_label);
  auto r = call(req);
  if (!r) return std::unexpected(r.error());
  if (r->attrs.number_or("status", -1) != 0) return fail(Errc::kInvalid, "scache refused");
  return {};
}

Result<std::optional<ScacheClient::Destination>> ScacheClient::find_dest(
    std::string_view dest_label) {
  AttrList req;
  req.add("request", "find_dest").add("label", dest_label);
  auto r = call(req);
  if (!r) return std::unexpected(r.error());
  if (r->attrs.number_or("status", -1) != 0 || !r->fd) return std::nullopt;
  return Destination{std::string(r->attrs.str("property")),
                     std::string(r->attrs.str("endp_property")), std::move(r->fd)};
}

}  // namespace postern
