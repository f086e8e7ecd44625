#include "global/verify_client.h"

#include <unistd.h>

#include "global/attr.h"
#include "global/config.h"
#include "util/socket.h"
#include "util/stream.h"

namespace postern {

namespace {

Result<AttrList> verify_request(const std::string& path, std::chrono::milliseconds timeout,
                                const AttrList& req) {
  auto fd = connect_unix(path, Clock::now() + timeout);
  if (!fd) return std::unexpected(Error{fd.error().code, "verify service: " + fd.error().text});
  Stream s = Stream::from_fd(std::move(*fd));
  s.set_timeout(timeout);
  if (auto st = attr_expect_protocol(s, AttrEncoding::kNul, kVerifyProtocol); !st)
    return std::unexpected(Error{st.error().code, "verify service: " + st.error().text});
  auto reply = attr_request(s, AttrEncoding::kNul, req);
  if (!reply) return std::unexpected(Error{reply.error().code, "verify service: " + reply.error().text});
  return reply;
}

}  // namespace

std::string verify_socket_path(const std::string& queue_dir, std::string name) {
  if (name.empty()) name = "verify";
  std::string dir = queue_dir + "/private";
  // Inside a chroot jail (the queue directory is "/" and the cwd) the
  // absolute path is gone; the relative one still works.
  if (::access(dir.c_str(), F_OK) != 0) return "private/" + name;
  return dir + "/" + name;
}

VerifyClient::VerifyClient(std::string socket_path, std::chrono::milliseconds timeout)
    : path_(std::move(socket_path)), timeout_(timeout) {}

VerifyClient VerifyClient::from_config(const Config& cfg) {
  long long t = cfg.get_time("ipc_timeout");
  // A stuck verify service must not hold smtpd for an hour.
  if (t <= 0 || t > 60) t = 60;
  return VerifyClient(verify_socket_path(cfg.get("queue_directory"), cfg.get("address_verify_service_name")),
                      std::chrono::seconds(t));
}

Result<VerifyAnswer> VerifyClient::query(std::string_view address) {
  AttrList req;
  req.add("request", "query").add("address", address);
  auto reply = verify_request(path_, timeout_, req);
  if (!reply) return std::unexpected(reply.error());
  if (reply->number_or("status", kVerifyStatFail) != kVerifyStatOk)
    return fail(Errc::kTemporary, "verify service: query failed");
  auto st = reply->number("recipient_status");
  if (!st || *st < kVerifyOk || *st > kVerifyTodo)
    return fail(Errc::kTemporary, "verify service: bad recipient_status in reply");
  VerifyAnswer a;
  a.rcpt_status = static_cast<int>(*st);
  a.reason = std::string(reply->str("reason"));
  return a;
}

Status VerifyClient::update(std::string_view address, int rcpt_status, std::string_view reason) {
  AttrList req;
  req.add("request", "update")
      .add("address", address)
      .add("recipient_status", rcpt_status)
      .add("reason", reason);
  auto reply = verify_request(path_, timeout_, req);
  if (!reply) return std::unexpected(reply.error());
  if (reply->number_or("status", kVerifyStatFail) != kVerifyStatOk)
    return fail(Errc::kTemporary, "verify service: update failed");
  return {};
}

}  // namespace postern
