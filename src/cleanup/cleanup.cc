// cleanup: the daemon behind public/cleanup. One client per process at a
// time (master runs as many as needed). Per connection:
//   1. create a queue file in incoming/ (its name is the queue ID),
//   2. announce protocol=cleanup_protocol, queue_id=ID; read flags=N,
//   3. read queue records T ... E and process them (cleanup/message.h),
//   4. commit the file (fsync, mode 0700; straight into hold/ for HOLD)
//      or remove it, reply status=N, reason=TEXT, and wake qmgr.
// A client that goes away before E leaves nothing behind; a cleanup that
// dies mid-message leaves an incomplete (mode 0600) file that no reader
// accepts.
#include <fmt/format.h>
#include <unistd.h>

#include <ctime>
#include <memory>

#include "cleanup/message.h"
#include "cleanup/milter.h"
#include "global/attr.h"
#include "global/cleanup_client.h"
#include "global/mail_queue.h"
#include "global/mail_server.h"
#include "global/queue_file.h"
#include "global/rec_type.h"
#include "global/rewrite_client.h"
#include "global/trigger.h"
#include "util/stream.h"
#include "util/strings.h"

using namespace postern;

namespace {

struct State {
  cleanup::Settings settings;
  cleanup::Tables tables;
  std::unique_ptr<MailQueue> queue;
  std::unique_ptr<RewriteClient> rewrite;
  cleanup::CleanupMilters milters;
};
std::unique_ptr<State> state;

// One queue record from the client: type byte, base-128 length, payload.
Result<Record> read_record(Stream& s, size_t limit) {
  auto t = s.read_exact(1);
  if (!t) return std::unexpected(t.error());
  size_t len = 0;
  for (int shift = 0;; shift += 7) {
    if (shift > 28) return fail(Errc::kInvalid, "bad record length");
    auto b = s.read_exact(1);
    if (!b) return std::unexpected(b.error());
    auto c = static_cast<unsigned char>((*b)[0]);
    len |= static_cast<size_t>(c & 0x7f) << shift;
    if (!(c & 0x80)) break;
  }
  if (len > limit) return fail(Errc::kTooLarge, fmt::format("record too long: {} bytes", len));
  Record r;
  r.type = static_cast<unsigned char>((*t)[0]);
  if (len > 0) {
    auto data = s.read_exact(len);
    if (!data) return std::unexpected(data.error());
    r.data = std::move(*data);
  }
  return r;
}

void reply(Stream& s, int status, std::string_view reason) {
  AttrList out;
  out.add("status", status);
  out.add("reason", reason);
  attr_write(s, AttrEncoding::kNul, out);
  (void)s.flush();
}

void serve(UniqueFd fd, ServiceContext& ctx) {
  Stream s = Stream::from_fd(std::move(fd));
  s.set_timeout(std::chrono::seconds(ctx.ipc_timeout()));
  auto file = state->queue->create("incoming", 0600);
  if (!file) {
    log::warn("create file in incoming: {}", file.error().text);
    return;  // the client sees no announcement and reports a temporary error
  }
  const std::string id = file->id;
  bool keep = false;
  auto cleanup_file = [&] {
    if (!keep) ::unlink(file->path.c_str());
  };
  AttrList hello;
  hello.add("protocol", "cleanup_protocol");
  hello.add("queue_id", id);
  attr_write(s, AttrEncoding::kNul, hello);
  if (!s.flush()) return cleanup_file();
  auto req = attr_read(s, AttrEncoding::kNul);
  if (!req) {
    if (req.error().code != Errc::kEof) log::warn("{}: read flags: {}", id, req.error().text);
    return cleanup_file();
  }
  int flags = static_cast<int>(req->number_or("flags", 0));

  QueueFileWriter writer(file->fd.get());
  cleanup::Message* msg_ptr = nullptr;
  cleanup::RewriteFn rewrite = [&msg_ptr](std::string_view rule, std::string_view addr) {
    auto r = state->rewrite->rewrite(rule, addr);
    if (!r) {
      if (msg_ptr) msg_ptr->temporary_failure("address rewriting: " + r.error().text);
      return std::string(addr);
    }
    return *r;
  };
  cleanup::Message msg(state->settings, state->tables, rewrite, id, writer, flags,
                       std::time(nullptr));
  msg_ptr = &msg;
  cleanup::CleanupMilters milters = state->milters.for_message();  // this message's milters
  const size_t limit = std::max<size_t>(state->settings.line_length_limit * 4, 1 << 20);
  while (!msg.finished()) {
    auto r = read_record(s, limit);
    if (!r) {
      // Client gone or stalled mid-message: nothing is queued.
      if (r.error().code != Errc::kEof)
        log::warn("{}: read from client: {}", id, r.error().text);
      else
        log::warn("{}: unexpected EOF from client", id);
      return cleanup_file();
    }
    if (r->type == rec::kMilterCount) {  // smtpd hands its milters over
      if (auto st = milters.receive(s, r->data); !st) {
        log::warn("{}: receive milters: {}", id, st.error().text);
        return cleanup_file();
      }
      continue;
    }
    msg.record(r->type, r->data);
  }
  int status = msg.status();
  std::string reason = msg.reason();
  bool hold = msg.hold(), discard = msg.discard();
  cleanup::MilterVerdict mv;
  if (status == 0 && !discard && (flags & kCleanupFlagMilter)) {
    mv = milters.run(file->fd.get(), writer, id, state->settings.line_length_limit);
    if (mv.status) status = mv.status, reason = mv.reason;
    hold = hold || mv.hold;
    discard = discard || mv.discard;
  }
  QueueFileWriter& final_writer = mv.writer ? *mv.writer : writer;
  bool queued = false;
  if (status == 0 && !discard) {
    std::string final_queue = "incoming";
    if (hold) {
      if (auto st = state->queue->move("incoming", "hold", id); st) final_queue = "hold";
      else log::warn("{}: move to hold: {}", id, st.error().text);
    }
    if (auto st = final_writer.commit(file->fd.get()); !st) {
      log::warn("{}: write queue file: {}", id, st.error().text);
      status = kCleanupStatWrite;
      reason = "4.3.0 queue file write error";
      ::unlink(state->queue->path(final_queue, id).c_str());
    } else {
      keep = true;
      queued = final_queue == "incoming";
    }
  }
  cleanup_file();
  reply(s, status, reason);
  if (queued) {
    auto st = mail_trigger(state->queue->directory(), "public", "qmgr",
                           std::string(1, kTriggerScanIncoming));
    if (!st) {
      // Postfix's wording: "unable to look up public/qmgr: No such file or directory".
      std::string_view why = st.error().text;
      if (auto colon = why.rfind(": "); colon != std::string_view::npos) why.remove_prefix(colon + 2);
      log::warn("unable to look up public/qmgr: {}", why);
    }
  }
  if (state->tables.changed()) {
    log::info("table has changed -- restarting");
    ctx.request_exit();
  }
}

void pre_init(ServiceContext& ctx) {
  auto settings = cleanup::Settings::from_config(ctx.cfg());
  if (!settings) log::fatal("{}", settings.error().text);
  auto tables = cleanup::Tables::open(ctx.cfg());
  if (!tables) log::fatal("{}", tables.error().text);
  auto queue = MailQueue::from_config(ctx.cfg());
  if (!queue) log::fatal("{}", queue.error().text);
  // Paths relative to the queue directory, the working directory both with
  // and without chroot (master.cf's chroot column).
  MailQueue::Settings qs = queue->settings();
  qs.directory = ".";
  state = std::make_unique<State>(State{
      std::move(*settings), std::move(*tables), std::make_unique<MailQueue>(std::move(qs)),
      std::make_unique<RewriteClient>("private/" + ctx.cfg().get("rewrite_service_name"),
                                      std::chrono::seconds(ctx.ipc_timeout())),
      cleanup::CleanupMilters::from_config(ctx.cfg())});
}

}  // namespace

int main(int argc, char** argv) {
  ServiceHooks hooks;
  hooks.pre_init = pre_init;
  return single_server_main(argc, argv, "cleanup", serve, hooks);
}
