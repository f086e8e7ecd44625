#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "global/scache_client.h"
#include "scache/scache_table.h"
#include "util/socket.h"

namespace postern {
namespace {

// A pipe's read end; the write end's inode identifies it after passing.
struct Pipe {
  UniqueFd r, w;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
};

ino_t inode(int fd) {
  struct stat st {};
  ::fstat(fd, &st);
  return st.st_ino;
}

TEST(ScacheTable, EndpointNewestFirstAndTakenOut) {
  ScacheTable t;
  Pipe a, b;
  ino_t ia = inode(a.r.get()), ib = inode(b.r.get());
  t.save_endp("smtp:127.0.0.1:25", "A", std::move(a.r), 2, 100);
  t.save_endp("smtp:127.0.0.1:25", "B", std::move(b.r), 2, 100);
  EXPECT_EQ(t.sessions(), 2u);
  auto first = t.find_endp("smtp:127.0.0.1:25", 101);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->endp_prop, "B");
  EXPECT_EQ(inode(first->fd.get()), ib);
  auto second = t.find_endp("smtp:127.0.0.1:25", 101);
  ASSERT_TRUE(second);
  EXPECT_EQ(inode(second->fd.get()), ia);
  EXPECT_FALSE(t.find_endp("smtp:127.0.0.1:25", 101));
  EXPECT_EQ(t.sessions(), 0u);
  EXPECT_EQ(t.stats().endp_hits, 2);
  EXPECT_EQ(t.stats().endp_miss, 1);
  EXPECT_EQ(t.stats().max_sessions, 2u);
}

TEST(ScacheTable, EntriesExpireAndDescriptorsClose) {
  ScacheTable t;
  Pipe p;
  t.save_endp("e", "", std::move(p.r), 2, 100);
  t.save_dest("d", "dp", "e", 2, 100);
  t.expire(101);
  EXPECT_EQ(t.sessions(), 1u);
  t.expire(102);  // now + ttl has come: gone, and the read end is closed
  EXPECT_EQ(t.sessions(), 0u);
  EXPECT_EQ(t.destinations(), 0u);
  ::signal(SIGPIPE, SIG_IGN);
  char c = 'x';
  EXPECT_EQ(::write(p.w.get(), &c, 1), -1);  // EPIPE: no reader left
}

TEST(ScacheTable, DestinationLeadsToItsEndpoint) {
  ScacheTable t;
  Pipe p;
  t.save_endp("smtp:10.0.0.1:25", "state", std::move(p.r), 5, 100);
  t.save_dest("smtp:example.com", "destprop", "smtp:10.0.0.1:25", 5, 100);
  EXPECT_FALSE(t.find_dest("smtp:other.example", 101));
  auto d = t.find_dest("smtp:example.com", 101);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->first, "destprop");
  EXPECT_EQ(d->second.endp_prop, "state");
  // The destination is remembered, but its one session is in use now.
  EXPECT_EQ(t.destinations(), 1u);
  EXPECT_FALSE(t.find_dest("smtp:example.com", 101));
  EXPECT_EQ(t.stats().dest_hits, 1);
  EXPECT_EQ(t.stats().dest_miss, 2);
  t.reset_stats();
  EXPECT_EQ(t.stats().dest_hits, 0);
  EXPECT_EQ(t.stats().max_dests, 1u);
}

TEST(ScacheFrame, CarriesAttributesAndDescriptor) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  Pipe p;
  AttrList attrs;
  attrs.add("request", "save_endp").add("label", "smtp:x:25");
  ASSERT_TRUE(scache_write_frame(a.get(), attrs, p.r.get()));
  ASSERT_TRUE(scache_write_frame(a.get(), AttrList{{"request", "find_endp"}}));
  auto f = scache_read_frame(b.get(), Clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(f) << f.error().text;
  EXPECT_EQ(f->attrs.str("label"), "smtp:x:25");
  ASSERT_TRUE(f->fd);
  EXPECT_EQ(inode(f->fd.get()), inode(p.r.get()));
  auto g = scache_read_frame(b.get(), Clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(g) << g.error().text;
  EXPECT_EQ(g->attrs.str("request"), "find_endp");
  EXPECT_FALSE(g->fd);
  a.reset();
  auto eof = scache_read_frame(b.get(), Clock::now() + std::chrono::seconds(5));
  ASSERT_FALSE(eof);
  EXPECT_EQ(eof.error().code, Errc::kEof);
}

TEST(ScacheFrame, RejectsOversizedLength) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  const unsigned char header[4] = {0x7f, 0xff, 0xff, 0xff};
  ASSERT_EQ(::write(a.get(), header, 4), 4);
  auto f = scache_read_frame(b.get(), Clock::now() + std::chrono::seconds(5));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, Errc::kInvalid);
}

TEST(ScacheFrame, TimesOutOnSilence) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  auto f = scache_read_frame(b.get(), Clock::now() + std::chrono::milliseconds(50));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, Errc::kTimeout);
}

// The client side of SaveAndFindThroughAServer (ASSERTs return from here,
// so the server thread is always joined).
void exercise_client(const std::string& path) {
  ScacheClient client(path);
  Pipe p;
  ino_t ino = inode(p.r.get());
  auto none = client.find_endp("smtp:127.0.0.1:25");
  ASSERT_TRUE(none) << none.error().text;
  EXPECT_FALSE(*none);
  ASSERT_TRUE(client.save_endp(2, "smtp:127.0.0.1:25", "props", p.r.get()));
  ASSERT_TRUE(client.save_dest(2, "smtp:example.com", "dp", "smtp:127.0.0.1:25"));
  auto d = client.find_dest("smtp:example.com");
  ASSERT_TRUE(d) << d.error().text;
  ASSERT_TRUE(*d);
  EXPECT_EQ((*d)->dest_prop, "dp");
  EXPECT_EQ((*d)->endp_prop, "props");
  EXPECT_EQ(inode((*d)->fd.get()), ino);
  auto gone = client.find_endp("smtp:127.0.0.1:25");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
}

// The client API against a one-connection server built from the table.
TEST(ScacheClient, SaveAndFindThroughAServer) {
  auto dir = std::filesystem::temp_directory_path() /
             ("scache-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "scache").string();
  auto listener = listen_unix(path, 5);
  ASSERT_TRUE(listener) << listener.error().text;
  std::thread server([&] {
    // The listener may be non-blocking: wait for the client first.
    if (!wait_fd(listener->get(), POLLIN, Clock::now() + std::chrono::seconds(30))) return;
    auto c = accept_connection(listener->get());
    if (!c) return;
    ScacheTable table;
    for (;;) {
      auto req = scache_read_frame(c->get(), Clock::now() + std::chrono::seconds(10));
      if (!req) return;
      std::string r(req->attrs.str("request"));
      std::string label(req->attrs.str("label"));
      AttrList out;
      UniqueFd give;
      if (r == "save_endp") {
        table.save_endp(label, std::string(req->attrs.str("property")), std::move(req->fd), 2,
                        100);
        out.add("status", 0);
      } else if (r == "find_endp") {
        auto s = table.find_endp(label, 100);
        out.add("status", s ? 0 : -1);
        if (s) {
          out.add("property", s->endp_prop);
          give = std::move(s->fd);
        }
      } else if (r == "save_dest") {
        table.save_dest(label, std::string(req->attrs.str("property")),
                        std::string(req->attrs.str("endp_label")), 2, 100);
        out.add("status", 0);
      } else if (r == "find_dest") {
        auto d = table.find_dest(label, 100);
        out.add("status", d ? 0 : -1);
        if (d) {
          out.add("property", d->first).add("endp_property", d->second.endp_prop);
          give = std::move(d->second.fd);
        }
      }
      if (!scache_write_frame(c->get(), out, give ? give.get() : -1)) return;
    }
  });
  exercise_client(path);
  server.join();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace postern
