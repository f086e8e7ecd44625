#include "global/dsn.h"
#include "global/mail_date.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(Dsn, NotifyAndRet) {
  EXPECT_EQ(parse_dsn_notify("SUCCESS,FAILURE"), kDsnNotifySuccess | kDsnNotifyFailure);
  EXPECT_EQ(parse_dsn_notify("never"), kDsnNotifyNever);
  EXPECT_FALSE(parse_dsn_notify("NEVER,SUCCESS"));
  EXPECT_FALSE(parse_dsn_notify("SOMETIMES"));
  EXPECT_FALSE(parse_dsn_notify(""));
  EXPECT_EQ(format_dsn_notify(kDsnNotifyDelay | kDsnNotifyFailure), "DELAY,FAILURE");
  EXPECT_EQ(parse_dsn_ret("hdrs"), kDsnRetHdrs);
  EXPECT_FALSE(parse_dsn_ret("some"));
}

TEST(Dsn, StatusCodes) {
  EXPECT_TRUE(valid_dsn_status("5.1.1"));
  EXPECT_TRUE(valid_dsn_status("4.7.123"));
  EXPECT_FALSE(valid_dsn_status("3.1.1"));
  EXPECT_FALSE(valid_dsn_status("5.1"));
  EXPECT_FALSE(valid_dsn_status("5.1.1x"));
  EXPECT_EQ(leading_dsn_status("5.7.1 Relay access denied"), "5.7.1");
  EXPECT_FALSE(leading_dsn_status("5.7.1x nope"));
  EXPECT_FALSE(leading_dsn_status("Relay access denied"));
}

TEST(Dsn, Xtext) {
  EXPECT_EQ(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext_decode("a+2Bb+3Dc+20d"), "a+b=c d");
  EXPECT_FALSE(xtext_decode("bad+2"));
  EXPECT_FALSE(xtext_decode("bad+ZZ"));
  EXPECT_FALSE(xtext_decode("a=b"));
}

TEST(MailDate, Rfc5322Layout) {
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(mail_date(0), "Thu,  1 Jan 1970 00:00:00 +0000 (UTC)");
}

}  // namespace
}  // namespace postern
