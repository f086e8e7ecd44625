// qmgr: the queue manager daemon (a trigger service, persistent).
// Triggers: W wake up (scan incoming/), I scan incoming/, D scan deferred/,
// A ignore time stamps, F forget dead destinations. deferred/ is also
// scanned every queue_run_delay.
#include <memory>
#include <string_view>

#include "global/mail_queue.h"
#include "global/mail_server.h"
#include "qmgr/manager.h"
#include "util/log.h"

using namespace postern;

namespace {

std::unique_ptr<qmgr::Manager> manager;

void schedule_deferred_scan(ServiceContext& ctx) {
  long delay = manager->settings().queue_run_delay;
  if (delay < 1) delay = 1;
  ctx.loop().add_timer(std::chrono::seconds(delay), [&ctx] {
    manager->run(true, true, false);
    schedule_deferred_scan(ctx);
  });
}

}  // namespace

int main(int argc, char** argv) {
  ServiceHooks hooks;
  hooks.persistent = true;
  hooks.post_init = [](ServiceContext& ctx) {
    auto queue = MailQueue::from_config(ctx.cfg());
    if (!queue) log::fatal("{}", queue.error().text);
    manager = std::make_unique<qmgr::Manager>(ctx.cfg(), std::move(*queue), ctx.loop());
    manager->recover_active();
    ctx.loop().add_timer(std::chrono::milliseconds(0), [] { manager->run(true, true, false); });
    schedule_deferred_scan(ctx);
  };
  return trigger_server_main(
      argc, argv, "qmgr",
      [](std::string_view data, ServiceContext&) {
        bool incoming = false, deferred = false, all = false;
        for (char c : data) {
          switch (c) {
            case 'W': incoming = true; break;
            case 'I': incoming = true; break;
            case 'D': deferred = true; break;
            case 'A': all = true; break;
            case 'F': manager->forget_dead(); break;
            default: break;
          }
        }
        if (incoming || deferred) manager->run(incoming, deferred, all);
      },
      hooks);
}
