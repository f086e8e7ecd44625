// One delivery request to a delivery agent (private/<transport>), driven
// by qmgr's event loop instead of a thread per request: connect, read the
// agent's announcement, send the request, read the reply (the exchange of
// global/deliver_request.h, same errors as deliver_request_send()).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "global/deliver_request.h"
#include "util/event_loop.h"

namespace postern::qmgr {

using AgentDone = std::function<void(Result<DeliverReply>)>;

// Starts the exchange. `done` runs exactly once, later, from the loop
// (never from inside this call). The announcement must come within
// min(timeout, 60s) (a service master cannot run accepts but never
// answers), the reply within `timeout`.
void start_agent_call(EventLoop& loop, const std::string& socket_path,
                      const DeliverRequest& request, std::chrono::seconds timeout,
                      AgentDone done);

}  // namespace postern::qmgr
