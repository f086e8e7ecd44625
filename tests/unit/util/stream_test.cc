#include "util/stream.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <thread>

namespace postern {
namespace {

struct Pair {
  Stream ours;
  UniqueFd peer;
};

Pair make_pair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  return Pair{Stream::from_fd(UniqueFd(fds[0])), UniqueFd(fds[1])};
}

TEST(Stream, ReadsLinesAndKeepsTheRestBuffered) {
  auto p = make_pair();
  ASSERT_TRUE(write_all(p.peer.get(), "EHLO x\r\nMAIL FROM:<a>\r\n"));
  bool complete = false;
  auto line = p.ours.read_line(100, &complete);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "EHLO x\r");
  EXPECT_TRUE(complete);
  EXPECT_TRUE(p.ours.has_buffered_input());
  line = p.ours.read_line(100, &complete);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "MAIL FROM:<a>\r");
  EXPECT_FALSE(p.ours.has_buffered_input());
}

TEST(Stream, LongLineComesInPiecesNoLargerThanTheLimit) {
  auto p = make_pair();
  ASSERT_TRUE(write_all(p.peer.get(), std::string(25, 'x') + "\n"));
  bool complete = true;
  auto piece = p.ours.read_line(10, &complete);
  ASSERT_TRUE(piece);
  EXPECT_EQ(piece->size(), 10u);
  EXPECT_FALSE(complete);
  piece = p.ours.read_line(10, &complete);
  EXPECT_EQ(piece->size(), 10u);
  piece = p.ours.read_line(10, &complete);
  EXPECT_EQ(*piece, "xxxxx");
  EXPECT_TRUE(complete);
}

TEST(Stream, TimesOutWhenThePeerStalls) {
  auto p = make_pair();
  p.ours.set_timeout(std::chrono::milliseconds(50));
  auto line = p.ours.read_line(100);
  ASSERT_FALSE(line);
  EXPECT_EQ(line.error().code, Errc::kTimeout);
}

TEST(Stream, EofBeforeAnyByteAndPartialFinalLine) {
  auto p = make_pair();
  ASSERT_TRUE(write_all(p.peer.get(), "tail"));
  p.peer.reset();
  bool complete = true;
  auto line = p.ours.read_line(100, &complete);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "tail");
  EXPECT_FALSE(complete);
  line = p.ours.read_line(100);
  ASSERT_FALSE(line);
  EXPECT_EQ(line.error().code, Errc::kEof);
}

TEST(Stream, ReadExactAndWriteFlush) {
  auto p = make_pair();
  std::thread writer([&] { (void)write_all(p.peer.get(), "0123456789"); });
  auto data = p.ours.read_exact(10);
  writer.join();
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, "0123456789");
  ASSERT_TRUE(p.ours.write_flush("250 ok\r\n"));
  char buf[16] = {};
  ASSERT_EQ(::read(p.peer.get(), buf, sizeof buf), 8);
  EXPECT_STREQ(buf, "250 ok\r\n");
}

TEST(Stream, ReplacingTheTransportDiscardsBufferedInput) {
  auto p = make_pair();
  ASSERT_TRUE(write_all(p.peer.get(), "STARTTLS\r\nMAIL FROM:<evil>\r\n"));
  auto line = p.ours.read_line(100);
  ASSERT_TRUE(line);
  EXPECT_TRUE(p.ours.has_buffered_input());
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  UniqueFd other_peer(fds[1]);
  auto old = p.ours.replace_transport(std::make_unique<FdTransport>(UniqueFd(fds[0])));
  EXPECT_FALSE(p.ours.has_buffered_input());
}

TEST(ReadFile, EnforcesTheLimit) {
  char path[] = "/tmp/postern-read-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_all(fd, std::string(100, 'a')));
  ::close(fd);
  EXPECT_EQ(read_file(path)->size(), 100u);
  auto small = read_file(path, 10);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code, Errc::kTooLarge);
  ::unlink(path);
  EXPECT_EQ(read_file(path).error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace postern
