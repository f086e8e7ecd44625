// One delivery request of the smtp/lmtp client: find the servers for the
// next hop (and smtp_fallback_relay), try them in order, run the SMTP or
// LMTP dialogue, and report each recipient's outcome through the
// StatusReporter as Postfix's client does.
#pragma once

#include "global/deliver_agent.h"
#include "smtp/settings.h"
#include "smtp/state.h"

namespace postern::smtp {

void deliver(AgentRequest& ar, const Settings& settings, ClientState& state);

}  // namespace postern::smtp
