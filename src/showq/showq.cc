// showq: the queue listing service behind `postqueue -p`, `postqueue -j`
// and mailq (public/showq). Each client gets the announcement
// protocol=mail_queue_list_protocol, then one attribute list per queued
// message (showq_format.h), then end of stream.
#include <optional>

#include "global/attr.h"
#include "global/mail_queue.h"
#include "global/mail_server.h"
#include "global/showq_scan.h"
#include "util/stream.h"

using namespace postern;

namespace {

void serve(UniqueFd fd, ServiceContext& ctx) {
  Stream out = Stream::from_fd(std::move(fd));
  out.set_timeout(std::chrono::seconds(ctx.ipc_timeout()));
  auto configured = MailQueue::from_config(ctx.cfg());
  if (!configured) {
    log::warn("{}", configured.error().text);
    return;
  }
  // Relative to the working directory (the queue directory), so that a
  // chrooted showq (master.cf) finds the queues too.
  MailQueue::Settings settings = configured->settings();
  settings.directory = std::string(1, '.');  // (not = ".": GCC 12 -Wrestrict false alarm)
  auto queue = std::optional<MailQueue>(std::in_place, settings);
  attr_write(out, AttrEncoding::kNul, AttrList{{"protocol", std::string(kShowqProtocol)}});
  bool ok = true;
  showq_scan(*queue, [&](const ShowqMessage& m) {
    attr_write(out, AttrEncoding::kNul, showq_encode(m));
    if (out.buffered_output() > 65536 && !out.flush()) ok = false;
    return ok;  // the client went away: stop scanning
  });
  if (ok) (void)out.flush();
}

}  // namespace

int main(int argc, char** argv) {
  return single_server_main(argc, argv, "showq", serve);
}
