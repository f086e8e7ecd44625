#include "util/log.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(Log, FileLineHasPostfixLayout) {
  std::string line = log::format_file_line("mail", "postfix/smtpd", 1234, log::Level::kWarning,
                                           "hostname x does not resolve", 0);
  // "Jan 01 00:00:00 mail postfix/smtpd[1234]: warning: ..." in local time.
  ASSERT_GT(line.size(), 16u);
  EXPECT_EQ(line.substr(15), " mail postfix/smtpd[1234]: warning: hostname x does not resolve");
  EXPECT_EQ(line[3], ' ');
  EXPECT_EQ(line[6], ' ');
}

TEST(Log, TagFollowsSyslogName) {
  log::init("cleanup");
  log::Settings s;
  s.syslog_name = "postfix/submission";
  log::configure(s);
  EXPECT_EQ(log::tag(), "postfix/submission/cleanup");
}

TEST(Log, FatalRunsTheExitHook) {
  static int status = -1;
  log::init("test");
  log::disable_syslog();
  log::set_exit_hook([](int s) {
    status = s;
    throw 1;  // leave fatal() without exiting the test binary
  });
  try {
    log::fatal("boom {}", 1);
  } catch (int) {
  }
  EXPECT_EQ(status, 1);
  log::set_exit_hook(nullptr);
}

}  // namespace
}  // namespace postern
