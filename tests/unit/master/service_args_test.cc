#include <gtest/gtest.h>

#include "global/mail_server.h"

namespace postern {
namespace {

Result<ServiceArgs> parse(std::vector<std::string> words) {
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  return parse_service_args(static_cast<int>(words.size()), argv.data(), "smtpd");
}

TEST(ServiceArgs, MasterCommandLine) {
  auto a = parse({"smtpd", "-n", "127.0.0.1:2525", "-t", "inet", "-u", "-c", "-s", "2", "-o",
                  "syslog_name=postfix/submission", "-o", "smtpd_tls_security_level = encrypt",
                  "-v", "-v", "extra"});
  ASSERT_TRUE(a) << a.error().text;
  EXPECT_EQ(a->service_name, "127.0.0.1:2525");
  EXPECT_EQ(a->service_type, "inet");
  EXPECT_TRUE(a->unprivileged);
  EXPECT_TRUE(a->chroot);
  EXPECT_EQ(a->socket_count, 2);
  EXPECT_EQ(a->verbose, 2);
  ASSERT_EQ(a->overrides.size(), 2u);
  EXPECT_EQ(a->overrides[0], (std::pair<std::string, std::string>{"syslog_name", "postfix/submission"}));
  EXPECT_EQ(a->overrides[1], (std::pair<std::string, std::string>{"smtpd_tls_security_level", "encrypt"}));
  EXPECT_EQ(a->args, std::vector<std::string>{"extra"});
}

TEST(ServiceArgs, DefaultsAndGroupedFlags) {
  auto a = parse({"qmgr", "-lu", "-tunix"});
  ASSERT_TRUE(a) << a.error().text;
  EXPECT_EQ(a->service_name, "smtpd");  // the program name given by main
  EXPECT_TRUE(a->solitary);
  EXPECT_TRUE(a->unprivileged);
  EXPECT_EQ(a->service_type, "unix");
}

TEST(ServiceArgs, BadInputIsAnError) {
  EXPECT_FALSE(parse({"smtpd", "-o", "novalue"}));
  EXPECT_FALSE(parse({"smtpd", "-n"}));
  EXPECT_FALSE(parse({"smtpd", "-x"}));
  EXPECT_FALSE(parse({"smtpd", "-s", "many"}));
}

}  // namespace
}  // namespace postern
