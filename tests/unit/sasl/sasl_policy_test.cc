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
