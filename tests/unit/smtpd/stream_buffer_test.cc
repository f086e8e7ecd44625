// util/stream.h buffered_input(), which smtpd logs for improper pipelining.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/stream.h"

using namespace postern;

TEST(StreamBufferedInput, ShowsWhatWasReadAhead) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(::write(sv[1], "NOOP\r\nQUIT\r\n", 12), 12);
  Stream s = Stream::from_fd(UniqueFd(sv[0]));
  auto line = s.read_line(100);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "NOOP\r");
  EXPECT_EQ(s.buffered_input(), "QUIT\r\n");
  ASSERT_TRUE(s.read_line(100));
  EXPECT_EQ(s.buffered_input(), "");
  ::close(sv[1]);
}
