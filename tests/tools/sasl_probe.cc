// sasl-probe: runs one SMTP AUTH conversation through postern_sasl so
// that system tests can check the server back ends against real
// Dovecot and saslauthd instances.
//
//   sasl-probe [-c config_dir] [-o name=value]... [--tls] [--cyrus-client]
//              [--initial TEXT] mechs | auth MECH USER PASSWORD
//
// "mechs" prints "mechanisms: ..." and exits 0. "auth" prints the
// mechanisms, "reply: <the SMTP reply smtpd would give>", then "result:
// success user=NAME" (exit 0), "result: failure ... reason=TEXT" (exit 1
// permanent, 2 temporary, 3 malformed input; "failed user: NAME" when
// known) or "error: TEXT" (exit 4: the session could not be opened). The client side
// is built in (PLAIN, LOGIN) unless --cyrus-client asks for the Cyrus
// client library (any mechanism it supports, honouring smtp_sasl_*).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "global/config.h"
#include "sasl/base64.h"
#include "sasl/sasl_client.h"
#include "sasl/sasl_server.h"
#include "util/log.h"
#include "util/strings.h"

using namespace postern;
using namespace postern::sasl;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: sasl-probe [-c dir] [-o name=value]... [--tls] [--cyrus-client] "
               "[--initial TEXT] mechs | auth MECH USER PASSWORD\n");
  return 64;
}

int finish(const ServerReply& r) {
  std::printf("reply: %s\n", smtp_reply(r).c_str());
  if (r.ok()) {
    std::printf("result: success user=%s\n", r.username.c_str());
    return 0;
  }
  std::printf("result: failure temporary=%s malformed=%s reason=%s\n", r.temporary ? "yes" : "no",
              r.malformed ? "yes" : "no", r.reason.c_str());
  if (!r.username.empty()) std::printf("failed user: %s\n", r.username.c_str());
  return r.malformed ? 3 : r.temporary ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  log::init("sasl-probe", "sasl-probe");
  log::disable_syslog();
  std::string config_dir;
  std::vector<std::pair<std::string, std::string>> overrides;
  bool tls = false, cyrus_client = false;
  std::optional<std::string> initial_override;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    if (a == "-c" && i + 1 < argc) {
      config_dir = argv[++i];
    } else if (a == "-o" && i + 1 < argc) {
      std::string kv = argv[++i];
      size_t eq = kv.find('=');
      if (eq == std::string::npos) return usage();
      overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (a == "--tls") {
      tls = true;
    } else if (a == "--cyrus-client") {
      cyrus_client = true;
    } else if (a == "--initial" && i + 1 < argc) {
      initial_override = argv[++i];
    } else {
      return usage();
    }
  }
  if (i >= argc) return usage();
  std::string command = argv[i++];
  Config cfg;
  if (!config_dir.empty()) {
    auto loaded = Config::load(config_dir, true);
    if (!loaded) {
      std::printf("error: %s\n", loaded.error().text.c_str());
      return 4;
    }
    cfg = std::move(*loaded);
  }
  for (auto& [k, v] : overrides) cfg.set_override(k, v);

  auto backend = ServerBackend::create(cfg);
  if (!backend) {
    std::printf("error: %s\n", backend.error().text.c_str());
    return 4;
  }
  ConnectionInfo conn{"127.0.0.1", 40000, "127.0.0.1", 25, tls, false};
  auto session = (*backend)->open(conn);
  if (!session) {
    std::printf("error: %s\n", session.error().text.c_str());
    return 4;
  }
  auto mechs = (*session)->mechanisms();
  std::printf("mechanisms: %s\n", join(mechs, " ").c_str());
  std::fflush(stdout);
  if (command == "mechs") return 0;
  if (command != "auth" || argc - i != 3) return usage();
  std::string mech = uppercase(argv[i]);
  std::string user = argv[i + 1], pass = argv[i + 2];

  if (cyrus_client) {
    auto client = Client::create(cfg, "localhost", user, pass,
                                 tls ? Client::Channel::kTls : Client::Channel::kPlain);
    if (!client) {
      std::printf("error: %s\n", client.error().text.c_str());
      return 4;
    }
    auto first = (*client)->start({mech});
    if (!first) {
      std::printf("error: %s\n", first.error().text.c_str());
      return 4;
    }
    std::printf("mechanism: %s\n", first->mechanism.c_str());
    auto reply = (*session)->start(first->mechanism, first->initial);
    for (int rounds = 0; reply.kind == ServerReply::Kind::kContinue && rounds < 10; ++rounds) {
      auto response = (*client)->step(reply.challenge);
      if (!response) {
        std::printf("error: %s\n", response.error().text.c_str());
        return 4;
      }
      reply = (*session)->step(*response);
    }
    return finish(reply);
  }

  std::printf("mechanism: %s\n", mech.c_str());
  ServerReply reply;
  if (mech == "PLAIN") {
    std::string initial = initial_override ? *initial_override
                                           : base64_encode(std::string("\0", 1) + user +
                                                           std::string("\0", 1) + pass);
    reply = (*session)->start(mech, initial);
  } else if (mech == "LOGIN") {
    reply = (*session)->start(mech, initial_override);
    std::vector<std::string> answers = {user, pass};
    for (size_t n = 0; reply.kind == ServerReply::Kind::kContinue && n < answers.size(); ++n)
      reply = (*session)->step(base64_encode(answers[n]));
  } else {
    reply = (*session)->start(mech, initial_override);
  }
  return finish(reply);
}
