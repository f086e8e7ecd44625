#include "util/socket.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <gtest/gtest.h>

namespace postern {
namespace {

using namespace std::chrono_literals;

class SocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/postern-socket-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SocketTest, UnixListenConnectAccept) {
  std::string path = dir_ + "/s";
  auto l = listen_unix(path, 10, 0666);
  ASSERT_TRUE(l) << l.error().text;
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  auto none = accept_connection(l->get());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kTemporary);
  auto c = connect_unix(path, Clock::now() + 1s);
  ASSERT_TRUE(c) << c.error().text;
  auto a = accept_connection(l->get());
  ASSERT_TRUE(a) << a.error().text;
  ASSERT_EQ(::write(c->get(), "x", 1), 1);
  char b;
  ASSERT_EQ(::read(a->get(), &b, 1), 1);
  EXPECT_EQ(b, 'x');
  auto local = local_address(a->get());
  ASSERT_TRUE(local);
  EXPECT_EQ(local->path, path);
}

TEST_F(SocketTest, ConnectToMissingSocketNamesThePath) {
  auto c = connect_unix(dir_ + "/missing", Clock::now() + 1s);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().text.find(dir_ + "/missing"), std::string::npos);
}

TEST_F(SocketTest, DatagramSocketReceives) {
  std::string path = dir_ + "/d";
  auto d = bind_unix_dgram(path);
  ASSERT_TRUE(d) << d.error().text;
  ASSERT_TRUE(send_unix_dgram(path, "hello"));
  char buf[16];
  ssize_t n = ::recv(d->get(), buf, sizeof buf, 0);
  ASSERT_EQ(n, 5);
  EXPECT_EQ(std::string(buf, n), "hello");
}

TEST_F(SocketTest, FifoListenerReadsWrites) {
  std::string path = dir_ + "/f";
  auto f = open_fifo_listener(path);
  ASSERT_TRUE(f) << f.error().text;
  int w = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
  ASSERT_GE(w, 0);
  ASSERT_EQ(::write(w, "W", 1), 1);
  ::close(w);
  char b;
  ASSERT_EQ(::read(f->get(), &b, 1), 1);
  EXPECT_EQ(b, 'W');
  // The last writer left, yet the listener never sees end-of-file.
  EXPECT_EQ(::read(f->get(), &b, 1), -1);
}

TEST_F(SocketTest, InetListenAndAddresses) {
  auto l = listen_inet("127.0.0.1", 0, 10);
  ASSERT_TRUE(l) << l.error().text;
  auto local = local_address(l->get());
  ASSERT_TRUE(local);
  ASSERT_GT(local->port, 0);
  EXPECT_EQ(local->address.to_string(), "127.0.0.1");
  auto c = connect_inet("127.0.0.1", local->port, Clock::now() + 2s);
  ASSERT_TRUE(c) << c.error().text;
  auto peer = peer_address(c->get());
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->to_string(), fmt::format("127.0.0.1:{}", local->port));
  // A second listener on the same port fails with Postfix's wording.
  auto again = listen_inet("127.0.0.1", local->port, 10);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().text,
            fmt::format("bind 127.0.0.1 port {}: Address already in use", local->port));
}

TEST_F(SocketTest, InetV6Loopback) {
  auto l = listen_inet("::1", 0, 10);
  if (!l) GTEST_SKIP() << "no IPv6 here: " << l.error().text;
  auto local = local_address(l->get());
  ASSERT_TRUE(local);
  EXPECT_EQ(local->to_string(), fmt::format("[::1]:{}", local->port));
}

TEST_F(SocketTest, PassesDescriptor) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  UniqueFd pr(pipefd[0]), pw(pipefd[1]);
  ASSERT_TRUE(send_fd(a.get(), pw.get()));
  auto got = receive_fd(b.get(), Clock::now() + 1s);
  ASSERT_TRUE(got) << got.error().text;
  ASSERT_EQ(::write(got->get(), "z", 1), 1);
  char c;
  ASSERT_EQ(::read(pr.get(), &c, 1), 1);
  EXPECT_EQ(c, 'z');
}

TEST_F(SocketTest, ReceiveFdTimesOut) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  auto got = receive_fd(b.get(), Clock::now() + 20ms);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Errc::kTimeout);
}

}  // namespace
}  // namespace postern
