#include "global/deliver_request.h"

#include <sys/time.h>

#include <algorithm>
#include <charconv>

#include "util/socket.h"

namespace postern {

long long now_us() {
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  return static_cast<long long>(tv.tv_sec) * 1000000 + tv.tv_usec;
}

AttrList DeliverRequest::to_attrs() const {
  AttrList l;
  l.add("flags", flags)
      .add("queue_name", queue_name)
      .add("queue_id", queue_id)
      .add("offset", static_cast<long long>(data_offset))
      .add("size", data_size)
      .add("nexthop", nexthop)
      .add("encoding", encoding)
      .add("smtputf8", smtputf8)
      .add("sender", sender)
      .add("envelope_id", envelope_id)
      .add("ret_flags", ret_flags)
      .add("arrival_time", arrival_us)
      .add("active_time", active_us)
      .add("handoff_time", handoff_us)
      .add("client_name", client_name)
      .add("client_address", client_addr)
      .add("rewrite_context", rewrite_context)
      .add("transport", transport)
      .add("rcpt_count", static_cast<long long>(recipients.size()));
  for (const auto& r : recipients) {
    l.add("original_recipient", r.orig)
        .add("recipient", r.address)
        .add("offset", static_cast<long long>(r.offset))
        .add("dsn_orig_rcpt", r.dsn_orcpt)
        .add("notify_flags", r.notify_flags);
  }
  return l;
}

namespace {

Result<long long> to_number(std::string_view name, std::string_view v) {
  long long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty())
    return fail(Errc::kInvalid, "delivery request: bad " + std::string(name) + " value: " +
                                    std::string(v));
  return n;
}

// Walks the attribute list in order, each expected name in turn.
class Cursor {
 public:
  explicit Cursor(const AttrList& l) : items_(l.items()) {}
  Result<std::string> str(std::string_view name) {
    if (pos_ >= items_.size())
      return fail(Errc::kInvalid, "delivery request: missing attribute " + std::string(name));
    if (items_[pos_].first != name)
      return fail(Errc::kInvalid, "delivery request: expected attribute " + std::string(name) +
                                      ", got " + items_[pos_].first);
    return items_[pos_++].second;
  }
  Result<long long> num(std::string_view name) {
    auto s = str(name);
    if (!s) return std::unexpected(s.error());
    return to_number(name, *s);
  }

 private:
  const std::vector<std::pair<std::string, std::string>>& items_;
  size_t pos_ = 0;
};

}  // namespace

#define TRY_ASSIGN(dst, expr)                              \
  do {                                                     \
    auto tmp_ = (expr);                                    \
    if (!tmp_) return std::unexpected(tmp_.error());       \
    dst = static_cast<std::remove_reference_t<decltype(dst)>>(*tmp_); \
  } while (0)

Result<DeliverRequest> DeliverRequest::from_attrs(const AttrList& list) {
  DeliverRequest r;
  Cursor c(list);
  TRY_ASSIGN(r.flags, c.num("flags"));
  TRY_ASSIGN(r.queue_name, c.str("queue_name"));
  TRY_ASSIGN(r.queue_id, c.str("queue_id"));
  TRY_ASSIGN(r.data_offset, c.num("offset"));
  TRY_ASSIGN(r.data_size, c.num("size"));
  TRY_ASSIGN(r.nexthop, c.str("nexthop"));
  TRY_ASSIGN(r.encoding, c.str("encoding"));
  TRY_ASSIGN(r.smtputf8, c.num("smtputf8"));
  TRY_ASSIGN(r.sender, c.str("sender"));
  TRY_ASSIGN(r.envelope_id, c.str("envelope_id"));
  TRY_ASSIGN(r.ret_flags, c.num("ret_flags"));
  TRY_ASSIGN(r.arrival_us, c.num("arrival_time"));
  TRY_ASSIGN(r.active_us, c.num("active_time"));
  TRY_ASSIGN(r.handoff_us, c.num("handoff_time"));
  TRY_ASSIGN(r.client_name, c.str("client_name"));
  TRY_ASSIGN(r.client_addr, c.str("client_address"));
  TRY_ASSIGN(r.rewrite_context, c.str("rewrite_context"));
  TRY_ASSIGN(r.transport, c.str("transport"));
  long long count = 0;
  TRY_ASSIGN(count, c.num("rcpt_count"));
  if (count < 0 || count > 100000)
    return fail(Errc::kInvalid, "delivery request: bad rcpt_count " + std::to_string(count));
  for (long long i = 0; i < count; ++i) {
    DeliverRecipient rc;
    TRY_ASSIGN(rc.orig, c.str("original_recipient"));
    TRY_ASSIGN(rc.address, c.str("recipient"));
    TRY_ASSIGN(rc.offset, c.num("offset"));
    TRY_ASSIGN(rc.dsn_orcpt, c.str("dsn_orig_rcpt"));
    TRY_ASSIGN(rc.notify_flags, c.num("notify_flags"));
    r.recipients.push_back(std::move(rc));
  }
  if (r.queue_id.empty() || r.queue_name.empty())
    return fail(Errc::kInvalid, "delivery request: empty queue name or queue ID");
  if (r.recipients.empty()) return fail(Errc::kInvalid, "delivery request: no recipients");
  return r;
}

AttrList DeliverReply::to_attrs() const {
  AttrList l;
  l.add("status", status);
  for (const auto& [off, o] : outcomes)
    l.add("rcpt_status", std::to_string(off) + ":" + std::string(1, static_cast<char>(o)));
  if (!dsn_status.empty()) l.add("dsn_status", dsn_status).add("reason", reason);
  return l;
}

Result<DeliverReply> DeliverReply::from_attrs(const AttrList& list) {
  DeliverReply r;
  auto st = list.number("status");
  if (!st) return fail(Errc::kInvalid, "delivery reply: missing or bad status");
  r.status = static_cast<int>(*st);
  for (const auto& [name, value] : list.items()) {
    if (name != "rcpt_status") continue;
    auto colon = value.rfind(':');
    if (colon == std::string::npos || colon + 2 != value.size())
      return fail(Errc::kInvalid, "delivery reply: bad rcpt_status " + value);
    auto off = to_number("rcpt_status", std::string_view(value).substr(0, colon));
    if (!off) return std::unexpected(off.error());
    char k = value[colon + 1];
    if (k != 'S' && k != 'D' && k != 'B')
      return fail(Errc::kInvalid, "delivery reply: bad rcpt_status " + value);
    r.outcomes.emplace_back(static_cast<off_t>(*off), static_cast<RcptOutcome>(k));
  }
  r.dsn_status = std::string(list.str("dsn_status"));
  r.reason = std::string(list.str("reason"));
  return r;
}

Result<DeliverReply> deliver_request_send(const std::string& socket_path,
                                          const DeliverRequest& request,
                                          std::chrono::seconds timeout) {
  auto fd = connect_unix(socket_path, Clock::now() + timeout);
  if (!fd) return fail(Errc::kTemporary, "connect to " + socket_path + ": " + fd.error().text);
  Stream s = Stream::from_fd(std::move(*fd));
  // A service that master cannot run accepts connections but never
  // answers: the announcement gets a shorter timeout of its own.
  s.set_timeout(std::min<std::chrono::seconds>(timeout, std::chrono::seconds(60)));
  if (auto ok = attr_expect_protocol(s, AttrEncoding::kNul, kDeliverProtocol); !ok)
    return fail(Errc::kTemporary, socket_path + ": " + ok.error().text);
  s.set_timeout(timeout);
  auto reply = attr_request(s, AttrEncoding::kNul, request.to_attrs());
  if (!reply) return fail(Errc::kTemporary, socket_path + ": " + reply.error().text);
  return DeliverReply::from_attrs(*reply);
}

}  // namespace postern
