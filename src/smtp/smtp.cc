// smtp / lmtp: the SMTP and LMTP delivery agent. One program serves both;
// the name it runs under (argv[0]: "smtp" or "lmtp") picks the protocol and
// the parameter prefix. One delivery request per connection from qmgr.
#include <string>

#include "global/deliver_agent.h"
#include "smtp/client.h"

using namespace postern;

int main(int argc, char** argv) {
  static smtp::Settings settings;
  static smtp::ClientState* state = nullptr;
  ServiceHooks hooks;
  // Tables, TLS context and resolver are set up with full privileges (a
  // password table may be readable by root only), once per process.
  hooks.pre_init = [](ServiceContext& ctx) {
    settings = smtp::Settings::load(ctx.cfg(), ctx.args().program == "lmtp");
    state = &smtp::client_state(ctx.cfg(), settings);
  };
  return deliver_agent_main(argc, argv, "", [](AgentRequest& ar) {
    smtp::deliver(ar, settings, *state);
  }, std::move(hooks));
}
