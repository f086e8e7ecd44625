#include "smtp/reply.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

using namespace postern;
using namespace postern::smtp;

TEST(Reply, EnhancedCodeFromText) {
  auto r = parse_reply({"550 5.1.1 <bob@example.com>: Recipient address rejected"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 550);
  EXPECT_EQ(r->dsn, "5.1.1");
  EXPECT_EQ(r->text(), "550 5.1.1 <bob@example.com>: Recipient address rejected");
}

TEST(Reply, DefaultAndMismatchedCodes) {
  auto r = parse_reply({"250 Ok"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dsn, "2.0.0");
  auto m = parse_reply({"451 5.7.1 try later"});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->dsn, "4.7.1");  // the class follows the reply code
  auto bare = parse_reply({"554"});
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->dsn, "5.0.0");
}

TEST(Reply, MultiLineJoinedWithSpaces) {
  auto r = parse_reply({"550-5.7.1 first line", "550 5.7.1 second line"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text(), "550-5.7.1 first line 550 5.7.1 second line");
  EXPECT_EQ(r->dsn, "5.7.1");
}

TEST(Reply, Malformed) {
  EXPECT_FALSE(parse_reply({"hello there"}));
  EXPECT_FALSE(parse_reply({"25"}));
  EXPECT_FALSE(parse_reply({"250-a", "251 b"}));
  EXPECT_FALSE(parse_reply({"999 what"}));
  EXPECT_FALSE(parse_reply({}));
}

namespace {

struct Pair {
  int a, b;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    a = fds[0];
    b = fds[1];
  }
};

}  // namespace

TEST(Reply, ReadsPipelinedRepliesOneAtATime) {
  Pair p;
  Stream s = Stream::from_fd(UniqueFd(p.a));
  std::string data = "250-first\r\n250 ok\r\n354 go ahead\r\n";
  ASSERT_EQ(::write(p.b, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  auto r1 = read_reply(s, Clock::now() + std::chrono::seconds(2));
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->lines.size(), 2u);
  auto r2 = read_reply(s, Clock::now() + std::chrono::seconds(2));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->code, 354);
  ::close(p.b);
  auto r3 = read_reply(s, Clock::now() + std::chrono::seconds(2));
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code, Errc::kEof);
}

TEST(Reply, NeverEndingReplyTimesOutOrHitsLimit) {
  Pair p;
  Stream s = Stream::from_fd(UniqueFd(p.a));
  std::string data = "220-hello\r\n220-hello\r\n";
  ASSERT_EQ(::write(p.b, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  auto r = read_reply(s, Clock::now() + std::chrono::milliseconds(200));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTimeout);
  // Too many lines.
  std::string many;
  for (int i = 0; i < 20; ++i) many += "250-x\r\n";
  ASSERT_EQ(::write(p.b, many.data(), many.size()), static_cast<ssize_t>(many.size()));
  ReplyLimits lim;
  lim.max_lines = 10;
  auto r2 = read_reply(s, Clock::now() + std::chrono::seconds(2), lim);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, Errc::kInvalid);
  ::close(p.b);
}

TEST(Reply, LongLinesAreTruncatedAndGarbageEndsTheReply) {
  Pair p;
  Stream s = Stream::from_fd(UniqueFd(p.a));
  std::string data = "250 " + std::string(5000, 'x') + "\r\ngarbage\r\n";
  ASSERT_EQ(::write(p.b, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  auto r = read_reply(s, Clock::now() + std::chrono::seconds(2));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines[0].size(), 2048u);
  auto g = read_reply(s, Clock::now() + std::chrono::seconds(2));
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, Errc::kInvalid);
  ::close(p.b);
}

TEST(Reply, DotStuffing) {
  std::string out;
  append_data_line(out, ".hidden");
  append_data_line(out, "plain");
  append_data_line(out, "");
  EXPECT_EQ(out, "..hidden\r\nplain\r\n\r\n");
}
