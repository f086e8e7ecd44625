// error: fails every recipient with the next hop as the reason
// ("error:5.1.1 no such user here"). Run as "retry" (or with a 4.x.x
// reason) it defers instead of bouncing. relay=none in the log.
#include <string>

#include "global/deliver_agent.h"
#include "global/dsn.h"

using namespace postern;

int main(int argc, char** argv) {
  return deliver_agent_main(
      argc, argv, "error",
      [](AgentRequest& ar) {
        bool retry = ar.ctx.args().service_name == "retry";
        std::string text = ar.req.nexthop;
        DsnResult d;
        if (auto st = leading_dsn_status(text)) {
          d.status = *st;
          text = text.substr(st->size());
          while (!text.empty() && text.front() == ' ') text.erase(0, 1);
        } else {
          d.status = retry ? "4.0.0" : "5.0.0";
        }
        if (retry && d.status[0] == '5') d.status[0] = '4';
        d.reason = text.empty() ? std::string(retry ? "delivery temporarily suspended"
                                                    : "delivery failed")
                                : text;
        for (const auto& r : ar.req.recipients) ar.status.fail(r, d);
      },
      {}, "none");
}
