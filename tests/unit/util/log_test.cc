#include "util/log.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

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

// A burst of lines larger than the postlog socket's queue
// (net.unix.max_dgram_qlen, often 10) waits for postlogd to catch up
// instead of losing lines, even when the file fallback is impossible.
TEST(Log, PostlogBurstLosesNoLine) {
  char dir_template[] = "/tmp/postern-logtest-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  std::string path = dir + "/postlog";
  int server = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(server, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  constexpr int kLines = 100;
  std::atomic<int> received{0};
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the queue fill
    timeval tv{5, 0};
    ::setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    while (received < kLines && ::recv(server, buf, sizeof(buf), 0) > 0) ++received;
  });
  log::init("logtest");
  log::Settings s;
  s.maillog_file = dir + "/no/such/dir/maillog";  // the fallback cannot write
  s.postlog_socket = path;
  log::configure(s);
  for (int i = 0; i < kLines; ++i) log::info("line {}", i);
  reader.join();
  log::configure(log::Settings{});
  log::disable_syslog();
  ::close(server);
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
  EXPECT_EQ(received.load(), kLines);
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
