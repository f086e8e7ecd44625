#include "global/anvil_client.h"

#include <fmt/format.h>

#include "global/config.h"
#include "util/socket.h"

namespace postern {

AnvilClient::AnvilClient(std::string socket_path, std::chrono::milliseconds timeout)
    : path_(std::move(socket_path)), timeout_(timeout) {}

AnvilClient AnvilClient::from_config(const Config& cfg) {
  std::string name = cfg.get("anvil_service_name");
  if (name.empty()) name = "anvil";
  long long t = cfg.get_time("ipc_timeout");
  return AnvilClient(cfg.get("queue_directory") + "/private/" + name,
                     std::chrono::seconds(t > 0 ? t : 3600));
}

std::string AnvilClient::ident(std::string_view service, std::string_view address) {
  std::string out(service);
  out += ':';
  out += address;
  return out;
}

Status AnvilClient::open() {
  auto fd = connect_unix(path_, Clock::now() + timeout_);
  if (!fd) return std::unexpected(fd.error());
  auto s = std::make_unique<Stream>(Stream::from_fd(std::move(*fd)));
  s->set_timeout(timeout_);
  if (auto st = attr_expect_protocol(*s, AttrEncoding::kPlain, "anvil_protocol"); !st)
    return std::unexpected(Error{st.error().code, "anvil: " + st.error().text});
  stream_ = std::move(s);
  return {};
}

Result<AttrList> AnvilClient::request(std::string_view name, std::string_view service,
                                      std::string_view addr) {
  AttrList req;
  req.add("request", name);
  req.add("ident", ident(service, addr));
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!stream_) {
      if (auto st = open(); !st) return std::unexpected(st.error());
    }
    auto reply = attr_request(*stream_, AttrEncoding::kPlain, req);
    if (reply) {
      if (reply->number_or("status", -1) != 0)
        return fail(Errc::kTemporary, fmt::format("anvil: {} request failed", name));
      return reply;
    }
    stream_.reset();  // a broken connection (anvil restarted): once more
    if (attempt == 1) return std::unexpected(reply.error());
  }
  return fail(Errc::kTemporary, "anvil: no reply");
}

Result<AnvilCounts> AnvilClient::connect(std::string_view service, std::string_view addr) {
  auto r = request("connect", service, addr);
  if (!r) return std::unexpected(r.error());
  AnvilCounts c;
  c.count = static_cast<int>(r->number_or("count", 0));
  c.rate = static_cast<int>(r->number_or("rate", 0));
  return c;
}

Status AnvilClient::disconnect(std::string_view service, std::string_view addr) {
  auto r = request("disconnect", service, addr);
  if (!r) return std::unexpected(r.error());
  return {};
}

namespace {
Result<int> rate_of(Result<AttrList> r) {
  if (!r) return std::unexpected(r.error());
  return static_cast<int>(r->number_or("rate", 0));
}
}  // namespace

Result<int> AnvilClient::message(std::string_view s, std::string_view a) {
  return rate_of(request("message", s, a));
}
Result<int> AnvilClient::recipient(std::string_view s, std::string_view a) {
  return rate_of(request("recipient", s, a));
}
Result<int> AnvilClient::newtls(std::string_view s, std::string_view a) {
  return rate_of(request("newtls", s, a));
}
Result<int> AnvilClient::newtls_status(std::string_view s, std::string_view a) {
  return rate_of(request("newtls_status", s, a));
}
Result<int> AnvilClient::auth(std::string_view s, std::string_view a) {
  return rate_of(request("auth", s, a));
}

Result<AnvilCounts> AnvilClient::lookup(std::string_view service, std::string_view addr) {
  auto r = request("lookup", service, addr);
  if (!r) return std::unexpected(r.error());
  AnvilCounts c;
  c.count = static_cast<int>(r->number_or("count", 0));
  c.rate = static_cast<int>(r->number_or("rate", 0));
  c.mail = static_cast<int>(r->number_or("mail", 0));
  c.rcpt = static_cast<int>(r->number_or("rcpt", 0));
  c.newtls = static_cast<int>(r->number_or("newtls", 0));
  c.auth = static_cast<int>(r->number_or("auth", 0));
  return c;
}

}  // namespace postern
