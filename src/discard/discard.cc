// discard: reports every recipient delivered without delivering anything;
// the next hop is the text of the log line ("discard:silently").
#include <string>

#include "global/deliver_agent.h"
#include "global/dsn.h"

using namespace postern;

int main(int argc, char** argv) {
  return deliver_agent_main(
      argc, argv, "discard",
      [](AgentRequest& ar) {
        DsnResult d;
        d.status = "2.0.0";
        d.reason = ar.req.nexthop.empty() ? "discarded" : ar.req.nexthop;
        for (const auto& r : ar.req.recipients) ar.status.sent(r, d);
      },
      {}, "none");
}
