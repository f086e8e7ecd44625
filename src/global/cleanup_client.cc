#include "global/cleanup_client.h"

#include <fmt/format.h>

#include "global/attr.h"
#include "global/config.h"
#include "global/rec_type.h"
#include "global/record.h"
#include "util/socket.h"

namespace postern {

namespace {
constexpr std::string_view kProtocol = "cleanup_protocol";
constexpr size_t kFlushAt = 64 * 1024;
}  // namespace

CleanupStatusDetail cleanup_status_detail(int status) {
  // Most important first: a temporary problem wins over a permanent one.
  static constexpr struct {
    int bit;
    CleanupStatusDetail detail;
  } kTable[] = {
      {kCleanupStatDefer, {451, "4.7.1", "service unavailable"}},
      {kCleanupStatProxy, {451, "4.3.0", "queue file write error"}},
      {kCleanupStatBad, {451, "4.3.0", "internal protocol error"}},
      {kCleanupStatRcpt, {550, "5.1.0", "no recipients specified"}},
      {kCleanupStatHops, {554, "5.4.0", "too many hops"}},
      {kCleanupStatSize, {552, "5.3.4", "message file too big"}},
      {kCleanupStatContent, {550, "5.7.1", "message content rejected"}},
      {kCleanupStatWrite, {451, "4.3.0", "queue file write error"}},
      {kCleanupStatNoPerm, {550, "5.7.1", "service denied"}},
  };
  for (const auto& entry : kTable)
    if (status & entry.bit) return entry.detail;
  return {451, "4.3.0", "internal protocol error"};
}

Result<CleanupClient> CleanupClient::open(const Config& cfg, int flags) {
  return open_socket(cfg.get("queue_directory") + "/public/" + cfg.get("cleanup_service_name"),
                     flags, std::chrono::seconds(cfg.get_time("ipc_timeout")));
}

Result<CleanupClient> CleanupClient::open_socket(const std::string& path, int flags,
                                                 std::chrono::seconds timeout) {
  auto fd = connect_unix(path, Clock::now() + timeout);
  if (!fd) return fail(Errc::kTemporary, fmt::format("connect to {}: {}", path, fd.error().text));
  Stream s = Stream::from_fd(std::move(*fd));
  s.set_timeout(timeout);
  auto hello = attr_read(s, AttrEncoding::kNul);
  if (!hello || hello->str("protocol") != kProtocol || hello->str("queue_id").empty())
    return fail(Errc::kTemporary,
                fmt::format("{}: bad or missing protocol announcement", path));
  std::string queue_id(hello->str("queue_id"));
  AttrList request;
  request.add("flags", flags);
  attr_write(s, AttrEncoding::kNul, request);
  if (auto st = s.flush(); !st)
    return fail(Errc::kTemporary, fmt::format("{}: {}", path, st.error().text));
  return CleanupClient(std::move(s), std::move(queue_id), path);
}

Status CleanupClient::record(int type, std::string_view data) {
  std::string encoded;
  append_record(encoded, type, data);
  stream_.write(encoded);
  if (stream_.buffered_output() >= kFlushAt) return flush();
  return {};
}

Status CleanupClient::content_line(std::string_view line, size_t limit) {
  while (limit > 0 && line.size() > limit) {
    if (auto st = record(rec::kCont, line.substr(0, limit)); !st) return st;
    line.remove_prefix(limit);
  }
  return record(rec::kNorm, line);
}

Status CleanupClient::flush() {
  if (auto st = stream_.flush(); !st)
    return fail(Errc::kTemporary, fmt::format("{}: {}", path_, st.error().text));
  return {};
}

Result<CleanupOutcome> CleanupClient::finish() {
  if (auto st = record(rec::kEnd, ""); !st) return std::unexpected(st.error());
  if (auto st = flush(); !st) return std::unexpected(st.error());
  auto reply = attr_read(stream_, AttrEncoding::kNul);
  if (!reply)
    return fail(Errc::kTemporary, fmt::format("{}: {}", path_, reply.error().text));
  auto status = reply->number("status");
  if (!status) return fail(Errc::kTemporary, path_ + ": malformed status reply");
  return CleanupOutcome{static_cast<int>(*status), std::string(reply->str("reason"))};
}

Status CleanupClient::send_milters(const std::vector<int>& fds,
                                   const std::vector<AttrList>& lists) {
  if (auto st = record(rec::kMilterCount, std::to_string(fds.size())); !st) return st;
  if (auto st = flush(); !st) return st;
  auto ack = attr_read(stream_, AttrEncoding::kNul);
  if (!ack) return fail(Errc::kTemporary, fmt::format("{}: milter hand-over: {}", path_, ack.error().text));
  if (ack->number_or("status", -1) != 0)
    return fail(Errc::kTemporary, fmt::format("{}: milter hand-over refused", path_));
  for (int fd : fds)
    if (auto st = send_fd(stream_.fd(), fd); !st) return st;
  for (const auto& l : lists) attr_write(stream_, AttrEncoding::kNul, l);
  return stream_.flush();
}

}  // namespace postern
