// The skeleton every delivery agent (virtual, local, error, discard, ...)
// is built on: one delivery request per connection from qmgr.
//
// For each connection it announces delivery_request_protocol, reads the
// request, opens the queue file with a shared lock, hands the request to
// the agent's handler with a StatusReporter, and sends the reply. A queue
// file that cannot be opened defers every recipient.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "global/deliver_request.h"
#include "global/deliver_status.h"
#include "global/mail_queue.h"
#include "global/mail_server.h"

namespace postern {

struct AgentRequest {
  const DeliverRequest& req;
  int queue_fd;           // open read-write, shared flock held
  const MailQueue& queue;
  StatusReporter& status;
  ServiceContext& ctx;
};

using AgentHandler = std::function<void(AgentRequest& r)>;

// `relay` is the relay= name of the log lines (the service name when empty).
int deliver_agent_main(int argc, char** argv, std::string_view program, AgentHandler handler,
                       ServiceHooks hooks = {}, std::string relay = {});

// Calls `line(text, complete)` for each content line of the message from
// `offset` (the first content record) up to the X record. `complete` is
// false for a piece of an over-long line whose rest follows.
Status for_each_content_line(int fd, off_t offset,
                             const std::function<Status(std::string_view, bool)>& line);

}  // namespace postern
