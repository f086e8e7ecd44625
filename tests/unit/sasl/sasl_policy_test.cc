#include <gtest/gtest.h>

#include "global/config.h"
#include "sasl/sasl_server.h"

namespace postern::sasl {
namespace {

TEST(SecurityOptions, Parse) {
  auto o = parse_security_options("smtpd_sasl_security_options", "noanonymous, noplaintext");
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->noanonymous);
  EXPECT_TRUE(o->noplaintext);
  EXPECT_FALSE(o->noactive);
  auto bad = parse_security_options("smtpd_sasl_security_options", "noanonymous nosuch");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().text.find("nosuch"), std::string::npos);
  EXPECT_NE(bad.error().text.find("smtpd_sasl_security_options"), std::string::npos);
}

TEST(MechanismFilter, FirstMatchDecides) {
  std::vector<std::string> mechs{"PLAIN", "LOGIN", "CRAM-MD5", "EXTERNAL"};
  EXPECT_EQ(filter_mechanisms(mechs, ""), mechs);
  EXPECT_EQ(filter_mechanisms(mechs, "!external, static:rest"),
            (std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5"}));
  EXPECT_EQ(filter_mechanisms(mechs, "plain, login"),
            (std::vector<std::string>{"PLAIN", "LOGIN"}));
  EXPECT_EQ(filter_mechanisms(mechs, "!plain"), (std::vector<std::string>{}));
}

TEST(Replies, AsPostfixWritesThem) {
  ServerReply ok;
  ok.kind = ServerReply::Kind::kSuccess;
  EXPECT_EQ(smtp_reply(ok), "235 2.7.0 Authentication successful");
  ServerReply more;
  more.kind = ServerReply::Kind::kContinue;
  more.challenge = "VXNlcm5hbWU6";
  EXPECT_EQ(smtp_reply(more), "334 VXNlcm5hbWU6");
  ServerReply temp;
  temp.temporary = true;
  temp.reason = "generic failure";
  EXPECT_EQ(smtp_reply(temp), "454 4.7.0 Temporary authentication failure: generic failure");
  ServerReply bad;
  bad.reason = "authentication failure";
  EXPECT_EQ(smtp_reply(bad), "535 5.7.8 Error: authentication failed: authentication failure");
}

TEST(Backend, UnknownTypeIsAnError) {
  Config cfg;
  cfg.set_override("smtpd_sasl_type", "kerberos");
  auto b = ServerBackend::create(cfg);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().text.find("kerberos"), std::string::npos);
  EXPECT_EQ(server_types(), (std::vector<std::string>{"cyrus", "dovecot"}));
}

}  // namespace
}  // namespace postern::sasl
