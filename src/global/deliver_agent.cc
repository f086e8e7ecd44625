#include "global/deliver_agent.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "global/rec_type.h"
#include "global/record.h"
#include "util/log.h"
#include "util/process.h"

namespace postern {

Status for_each_content_line(int fd, off_t offset,
                             const std::function<Status(std::string_view, bool)>& line) {
  RecordReader reader(fd, "queue file", 1 << 20, RecordReader::Mode::kFollowPointers);
  if (auto s = reader.seek(offset); !s) return s;
  for (;;) {
    auto rec = reader.next();
    if (!rec) return std::unexpected(rec.error());
    if (!*rec) return fail(Errc::kEof, "queue file: unexpected end of file in message content");
    switch ((*rec)->type) {
      case rec::kNorm:
        if (auto s = line((*rec)->data, true); !s) return s;
        break;
      case rec::kCont:
        if (auto s = line((*rec)->data, false); !s) return s;
        break;
      case rec::kExtracted:
        return {};
      default:
        break;  // padding and the like
    }
  }
}

namespace {

struct Owner {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

void serve(UniqueFd client, ServiceContext& ctx, const AgentHandler& handler,
           const std::string& relay, const Owner& owner) {
  Stream s = Stream::from_fd(std::move(client));
  s.set_timeout(std::chrono::seconds(ctx.ipc_timeout()));
  attr_write(s, AttrEncoding::kNul, AttrList{{"protocol", std::string(kDeliverProtocol)}});
  if (auto f = s.flush(); !f) return;
  auto list = attr_read(s, AttrEncoding::kNul);
  if (!list) {
    if (list.error().code != Errc::kEof)
      log::warn("reading delivery request: {}", list.error().text);
    return;
  }
  auto req = DeliverRequest::from_attrs(*list);
  if (!req) {
    log::warn("{}", req.error().text);
    DeliverReply bad;
    bad.status = 1;
    attr_write(s, AttrEncoding::kNul, bad.to_attrs());
    (void)s.flush();
    return;
  }
  auto queue = MailQueue::from_config(ctx.cfg());
  if (!queue) log::fatal("{}", queue.error().text);
  std::string path = queue->path(req->queue_name, req->queue_id);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  std::string relay_name = relay.empty() ? ctx.args().service_name : relay;
  StatusReporter status(*req, fd.get(), *queue, relay_name, ctx.cfg().get_bool("soft_bounce"),
                        owner.uid, owner.gid);
  // A file postsuper -d removed between our open() and the lock has no
  // links left: it must not be delivered.
  struct stat st {};
  bool removed = fd && ::flock(fd.get(), LOCK_SH | LOCK_NB) == 0 &&
                 ::fstat(fd.get(), &st) == 0 && st.st_nlink == 0;
  if (removed) {
    log::info("{}: queue file {} was removed; not delivering", req->queue_id, path);
    for (const auto& r : req->recipients) status.reply().outcomes.emplace_back(r.offset, RcptOutcome::kDeferred);
    status.reply().status = 1;
  } else if (!fd || ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0) {
    int err = errno;
    log::warn("{}: cannot open queue file {}: {}", req->queue_id, path, std::strerror(err));
    for (const auto& r : req->recipients) status.reply().outcomes.emplace_back(r.offset, RcptOutcome::kDeferred);
    status.reply().status = 1;
  } else {
    AgentRequest ar{*req, fd.get(), *queue, status, ctx};
    handler(ar);
  }
  attr_write(s, AttrEncoding::kNul, status.reply().to_attrs());
  (void)s.flush();
}

}  // namespace

int deliver_agent_main(int argc, char** argv, std::string_view program, AgentHandler handler,
                       ServiceHooks hooks, std::string relay) {
  auto owner = std::make_shared<Owner>();
  auto pre = hooks.pre_init;
  hooks.pre_init = [owner, pre](ServiceContext& ctx) {
    if (auto u = lookup_user(ctx.cfg().get("mail_owner")); u) {
      owner->uid = u->uid;
      owner->gid = u->gid;
    }
    if (pre) pre(ctx);
  };
  return single_server_main(
      argc, argv, program,
      [handler = std::move(handler), relay, owner](UniqueFd client, ServiceContext& ctx) {
        serve(std::move(client), ctx, handler, relay, *owner);
      },
      hooks);
}

}  // namespace postern
