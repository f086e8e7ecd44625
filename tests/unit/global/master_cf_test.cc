#include "global/master_cf.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(MasterCf, FieldsDefaultsAndOverrides) {
  auto services = parse_master_cf(
      "# comment\n"
      "smtp      inet  n       -       y       -       -       smtpd\n"
      "submission inet n - n - - smtpd\n"
      "  -o syslog_name=postfix/submission\n"
      "  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
      "  -osmtpd_tls_security_level=encrypt\n"
      "pickup    unix  n       -       y       60?     1       pickup\n",
      "master.cf");
  ASSERT_TRUE(services) << services.error().text;
  ASSERT_EQ(services->size(), 3u);
  const auto& smtp = (*services)[0];
  EXPECT_FALSE(smtp.is_private());
  EXPECT_TRUE(smtp.is_unprivileged());
  EXPECT_TRUE(smtp.is_chrooted());
  EXPECT_EQ(smtp.maxproc(), -1);
  EXPECT_EQ(smtp.program(), "smtpd");
  const auto& sub = (*services)[1];
  auto o = sub.overrides();
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o[0].first, "syslog_name");
  EXPECT_EQ(o[1].first, "smtpd_client_restrictions");
  EXPECT_EQ(o[1].second, "permit_sasl_authenticated, reject");
  EXPECT_EQ(o[2].second, "encrypt");
  EXPECT_EQ(sub.line, 3);
  const auto& pickup = (*services)[2];
  EXPECT_EQ(pickup.wakeup_seconds(), 60);
  EXPECT_TRUE(pickup.wakeup_after_use());
  EXPECT_EQ(pickup.maxproc(), 1);
  EXPECT_TRUE(pickup.is_private() == false);
}

TEST(MasterCf, LastDefinitionOfNameAndTypeWins) {
  auto all = parse_master_cf("a unix - - n - 1 one\nb unix - - n - - x\na unix - - n - 2 two\n", "m");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);
  auto services = effective_services(*all);
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[0].program(), "x");
  EXPECT_EQ(services[1].program(), "two");
}

TEST(MasterCf, ErrorsNameFileAndLine) {
  auto bad_type = parse_master_cf("\nsmtp inot n - n - - smtpd\n", "/etc/postfix/master.cf");
  ASSERT_FALSE(bad_type);
  EXPECT_EQ(bad_type.error().text,
            "file /etc/postfix/master.cf: line 2: unknown service type: \"inot\"");
  EXPECT_FALSE(parse_master_cf("smtp inet n - n\n", "m"));
  EXPECT_FALSE(parse_master_cf("smtp inet n - n x - smtpd\n", "m"));
  EXPECT_FALSE(parse_master_cf("smtp inet n - n - -1 smtpd\n", "m"));
  EXPECT_FALSE(parse_master_cf("smtp inet maybe - n - - smtpd\n", "m"));
}

}  // namespace
}  // namespace postern
