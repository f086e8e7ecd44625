// One delivery request of the smtp/lmtp client: find the servers for the
// next hop (and smtp_fallback_relay), try them in order, run the SMTP or
// LMTP dialogue, and report each recipient's outcome through the
// StatusReporter as Postfix's client does.
#pragma once

#include "global/deliver_agent.h"
#include "smtp/settings.h"

namespace postern::smtp {

// Process-wide state kept across requests (TLS context and session cache,
// open tables, the DNS resolver).
struct ClientState;

void deliver(AgentRequest& ar, const Settings& settings, ClientState& state);

ClientState& client_state(const Config& cfg, const Settings& settings);

}  // namespace postern::smtp
