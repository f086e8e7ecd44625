// Cyrus client ↔ Cyrus server round trips in one process, against a
// sasldb made with saslpasswd2 at test time (auxprop, no daemon needed).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "global/config.h"
#include "sasl/sasl_client.h"
#include "sasl/sasl_server.h"
#include "util/log.h"

namespace postern::sasl {
namespace {

class Cyrus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/postern-cyrus-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string cmd = "echo secret | saslpasswd2 -f " + dir_ +
                      "/sasldb2 -p -c -u example.com alice";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    std::ofstream(dir_ + "/smtpd.conf") << "pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                                        << "sasldb_path: " << dir_ << "/sasldb2\n"
                                        << "mech_list: PLAIN LOGIN CRAM-MD5\n";
    log::init("smtpd", "test");
    log::disable_syslog();
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  static Config config() {
    Config cfg;
    cfg.set_override("smtpd_sasl_type", "cyrus");
    cfg.set_override("cyrus_sasl_config_path", dir_);
    cfg.set_override("smtpd_sasl_local_domain", "example.com");
    cfg.set_override("smtp_sasl_security_options", "noanonymous");
    return cfg;
  }

  // Runs a whole exchange between our client and server.
  static ServerReply exchange(const Config& cfg, Session& server, const std::string& mech,
                              const std::string& password, std::string* used = nullptr) {
    auto client = Client::create(cfg, "localhost", "alice", password, Client::Channel::kPlain);
    EXPECT_TRUE(client) << client.error().text;
    auto first = (*client)->start({mech});
    EXPECT_TRUE(first) << first.error().text;
    if (!first) return {};
    if (used) *used = first->mechanism;
    auto reply = server.start(first->mechanism, first->initial);
    for (int i = 0; i < 5 && reply.kind == ServerReply::Kind::kContinue; ++i) {
      auto r = (*client)->step(reply.challenge);
      EXPECT_TRUE(r) << r.error().text;
      if (!r) return {};
      reply = server.step(*r);
    }
    return reply;
  }

  static std::string dir_;
};
std::string Cyrus::dir_;

TEST_F(Cyrus, RoundTripsForEachMechanism) {
  auto cfg = config();
  auto backend = ServerBackend::create(cfg);
  ASSERT_TRUE(backend) << backend.error().text;
  EXPECT_EQ((*backend)->type(), "cyrus");
  for (std::string mech : {"PLAIN", "LOGIN", "CRAM-MD5"}) {
    auto session = (*backend)->open({"192.0.2.1", 40000, "127.0.0.1", 25, false, false});
    ASSERT_TRUE(session) << session.error().text;
    EXPECT_EQ((*session)->mechanisms(), (std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5"}));
    std::string used;
    auto good = exchange(cfg, **session, mech, "secret", &used);
    EXPECT_EQ(used, mech);
    EXPECT_EQ(good.kind, ServerReply::Kind::kSuccess) << mech << ": " << good.reason;
    EXPECT_EQ(good.username, "alice@example.com");

    auto again = (*backend)->open({"192.0.2.1", 40000, "127.0.0.1", 25, false, false});
    auto bad = exchange(cfg, **again, mech, "wrong");
    EXPECT_EQ(bad.kind, ServerReply::Kind::kFailure) << mech;
    EXPECT_FALSE(bad.temporary) << mech;
  }
}

TEST_F(Cyrus, SecurityOptionsAndFilters) {
  auto cfg = config();
  cfg.set_override("smtpd_sasl_security_options", "noanonymous, noplaintext");
  cfg.set_override("smtpd_sasl_mechanism_filter", "!cram-md5, static:rest");
  auto backend = ServerBackend::create(cfg);
  ASSERT_TRUE(backend);
  auto session = (*backend)->open({"192.0.2.1", 40000, "127.0.0.1", 25, false, false});
  ASSERT_TRUE(session);
  EXPECT_TRUE((*session)->mechanisms().empty());
  auto tls = (*backend)->open({"192.0.2.1", 40000, "127.0.0.1", 25, true, false});
  // smtpd_sasl_tls_security_options defaults to the same options.
  EXPECT_TRUE((*tls)->mechanisms().empty());

  // The client: defaults refuse plaintext mechanisms; the filter narrows.
  Config client_cfg;
  auto strict = Client::create(client_cfg, "localhost", "alice", "secret", Client::Channel::kPlain);
  ASSERT_TRUE(strict);
  auto none = (*strict)->start({"PLAIN", "LOGIN"});
  ASSERT_FALSE(none);
  client_cfg.set_override("smtp_sasl_security_options", "noanonymous");
  client_cfg.set_override("smtp_sasl_mechanism_filter", "login");
  auto filtered = Client::create(client_cfg, "localhost", "alice", "secret", Client::Channel::kPlain);
  auto first = (*filtered)->start({"PLAIN", "LOGIN", "CRAM-MD5"});
  ASSERT_TRUE(first) << first.error().text;
  EXPECT_EQ(first->mechanism, "LOGIN");
  auto nothing = (*filtered)->start({"PLAIN"});
  ASSERT_FALSE(nothing);
  EXPECT_NE(nothing.error().text.find("mechanism filter"), std::string::npos);

  // Each channel reads its own options parameter.
  Config channels;
  channels.set_override("smtp_sasl_security_options", "noanonymous, noplaintext");
  channels.set_override("smtp_sasl_tls_security_options", "noanonymous");
  channels.set_override("smtp_sasl_tls_verified_security_options", "noanonymous, noplaintext");
  auto plain = Client::create(channels, "localhost", "alice", "secret", Client::Channel::kPlain);
  EXPECT_FALSE((*plain)->start({"PLAIN"}));
  auto over_tls = Client::create(channels, "localhost", "alice", "secret", Client::Channel::kTls);
  EXPECT_TRUE((*over_tls)->start({"PLAIN"}));
  auto verified =
      Client::create(channels, "localhost", "alice", "secret", Client::Channel::kTlsVerified);
  EXPECT_FALSE((*verified)->start({"PLAIN"}));
}

TEST_F(Cyrus, MalformedClientInput) {
  auto backend = ServerBackend::create(config());
  auto session = (*backend)->open({"192.0.2.1", 40000, "127.0.0.1", 25, false, false});
  ASSERT_TRUE(session);
  auto r = (*session)->start("PLAIN", "not base64!");
  EXPECT_TRUE(r.malformed);
  auto login = (*session)->start("LOGIN", std::nullopt);
  ASSERT_EQ(login.kind, ServerReply::Kind::kContinue);
  EXPECT_TRUE((*session)->step("%%%%").malformed);
}

}  // namespace
}  // namespace postern::sasl

namespace postern::sasl {
namespace {

TEST_F(Cyrus, RetryOnTheSameSessionAfterAFailure) {
  auto cfg = config();
  auto backend = ServerBackend::create(cfg);
  auto session = (*backend)->open({"192.0.2.1", 40000, "127.0.0.1", 25, false, false});
  ASSERT_TRUE(session);
  EXPECT_EQ(exchange(cfg, **session, "PLAIN", "wrong").kind, ServerReply::Kind::kFailure);
  EXPECT_EQ(exchange(cfg, **session, "LOGIN", "wrong").kind, ServerReply::Kind::kFailure);
  auto ok = exchange(cfg, **session, "PLAIN", "secret");
  EXPECT_EQ(ok.kind, ServerReply::Kind::kSuccess) << ok.reason;
}

}  // namespace
}  // namespace postern::sasl
