#include "global/rewrite_client.h"

#include <fmt/format.h>
#include <poll.h>

#include "global/config.h"
#include "util/socket.h"

namespace postern {

namespace {
constexpr std::string_view kProtocol = "trivial_rewrite_protocol";
}

RewriteClient::RewriteClient(std::string socket_path, std::chrono::seconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

RewriteClient RewriteClient::from_config(const Config& cfg) {
  return RewriteClient(
      cfg.get("queue_directory") + "/private/" + cfg.get("rewrite_service_name"),
      std::chrono::seconds(cfg.get_time("ipc_timeout")));
}

void RewriteClient::drop_cache_if_server_left() {
  // An idle connection with something to read means the server closed it
  // (trivial-rewrite exits when one of its tables changed): its successor
  // may answer differently, so the remembered answers go too.
  if (stream_) {
    struct pollfd p{stream_->fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) == 0) return;
    stream_.reset();
  }
  last_rewrite_.reset();
  last_resolve_.reset();
}

Result<AttrList> RewriteClient::round_trip(const AttrList& request) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!stream_) {
      auto fd = connect_unix(socket_path_, Clock::now() + timeout_);
      if (!fd)
        return fail(Errc::kTemporary,
                    fmt::format("connect to {}: {}", socket_path_, fd.error().text));
      Stream s = Stream::from_fd(std::move(*fd));
      s.set_timeout(timeout_);
      if (auto st = attr_expect_protocol(s, AttrEncoding::kNul, kProtocol); !st)
        return fail(Errc::kTemporary,
                    fmt::format("{}: {}", socket_path_, st.error().text));
      stream_.emplace(std::move(s));
    }
    auto reply = attr_request(*stream_, AttrEncoding::kNul, request);
    if (reply) return reply;
    stream_.reset();  // a kept connection may have gone stale: retry once
    if (attempt == 1)
      return fail(Errc::kTemporary,
                  fmt::format("{}: {}", socket_path_, reply.error().text));
  }
  return fail(Errc::kTemporary, "unreachable");
}

Result<std::string> RewriteClient::rewrite(std::string_view rule, std::string_view address) {
  std::string key = fmt::format("{}\n{}", rule, address);
  drop_cache_if_server_left();
  if (last_rewrite_ && last_rewrite_->key == key) return last_rewrite_->rewritten;
  auto reply = round_trip(AttrList{{"request", "rewrite"},
                                   {"rule", std::string(rule)},
                                   {"address", std::string(address)}});
  if (!reply) return std::unexpected(reply.error());
  if (!reply->get("address"))
    return fail(Errc::kTemporary, socket_path_ + ": malformed rewrite reply");
  last_rewrite_ = Cached{key, std::string(reply->str("address")), {}};
  return last_rewrite_->rewritten;
}

Result<ResolveReply> RewriteClient::resolve(std::string_view sender, std::string_view address,
                                            std::string_view request) {
  std::string key = fmt::format("{}\n{}\n{}", request, sender, address);
  drop_cache_if_server_left();
  if (last_resolve_ && last_resolve_->key == key) return last_resolve_->resolved;
  auto reply = round_trip(AttrList{{"request", std::string(request)},
                                   {"sender", std::string(sender)},
                                   {"address", std::string(address)}});
  if (!reply) return std::unexpected(reply.error());
  // The reply carries "flags" twice: server flags, then the resolve flags.
  ResolveReply r;
  int seen_flags = 0;
  for (const auto& [name, value] : reply->items()) {
    if (name == "transport") r.transport = value;
    else if (name == "nexthop") r.nexthop = value;
    else if (name == "recipient") r.recipient = value;
    else if (name == "flags" && ++seen_flags == 2) r.flags = std::atoi(value.c_str());
  }
  if (seen_flags != 2 || !reply->get("transport"))
    return fail(Errc::kTemporary, socket_path_ + ": malformed resolve reply");
  if (!(r.flags & kResolveFail)) last_resolve_ = Cached{key, {}, r};
  return r;
}

}  // namespace postern
