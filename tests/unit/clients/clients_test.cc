#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <thread>

#include "global/attr.h"
#include "global/cleanup_client.h"
#include "global/rec_type.h"
#include "global/record.h"
#include "global/rewrite_client.h"
#include "util/socket.h"

namespace postern {
namespace {

// A server that accepts `connections` clients and runs `script` for each.
class ScriptedServer {
 public:
  ScriptedServer(int connections, std::function<void(Stream&)> script) {
    dir_ = std::filesystem::temp_directory_path() /
           ("clients_test." + std::to_string(::getpid()) + "." + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "sock").string();
    auto fd = listen_unix(path_, 5);
    EXPECT_TRUE(fd) << fd.error().text;
    listener_ = std::move(*fd);
    thread_ = std::thread([this, connections, script] {
      for (int i = 0; i < connections; ++i) {
        // The listener is non-blocking, as master's are.
        if (!wait_fd(listener_.get(), POLLIN, Clock::now() + std::chrono::seconds(10))) return;
        auto client = accept_connection(listener_.get());
        if (!client) return;
        Stream s = Stream::from_fd(std::move(*client));
        s.set_timeout(std::chrono::seconds(5));
        script(s);
      }
    });
  }
  ~ScriptedServer() {
    thread_.join();
    std::filesystem::remove_all(dir_);
  }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  std::string path_;
  UniqueFd listener_;
  std::thread thread_;
};

TEST(CleanupClient, SendsFlagsAndRecordsAndReadsTheVerdict) {
  std::vector<std::pair<int, std::string>> got;
  long flags = -1;
  ScriptedServer server(1, [&](Stream& s) {
    attr_write(s, AttrEncoding::kNul,
               AttrList{{"protocol", "cleanup_protocol"}, {"queue_id", "4ABCDE123"}});
    ASSERT_TRUE(s.flush());
    auto req = attr_read(s, AttrEncoding::kNul);
    ASSERT_TRUE(req);
    flags = req->number_or("flags", -1);
    // Records until E, decoded by hand: type, 7-bit length, payload.
    for (;;) {
      auto type = s.read_exact(1);
      ASSERT_TRUE(type);
      size_t len = 0;
      for (int shift = 0;; shift += 7) {
        auto b = s.read_exact(1);
        ASSERT_TRUE(b);
        unsigned char c = static_cast<unsigned char>((*b)[0]);
        len |= static_cast<size_t>(c & 0x7f) << shift;
        if (!(c & 0x80)) break;
      }
      std::string data;
      if (len) data = *s.read_exact(len);
      got.emplace_back((*type)[0], data);
      if ((*type)[0] == rec::kEnd) break;
    }
    attr_write(s, AttrEncoding::kNul, AttrList{{"status", "0"}, {"reason", ""}});
    ASSERT_TRUE(s.flush());
  });
  auto client = CleanupClient::open_socket(server.path(), kCleanupFlagsExternal,
                                           std::chrono::seconds(5));
  ASSERT_TRUE(client) << client.error().text;
  EXPECT_EQ(client->queue_id(), "4ABCDE123");
  ASSERT_TRUE(client->record(rec::kSender, "alice@example.com"));
  ASSERT_TRUE(client->record(rec::kRecipient, "bob@example.org"));
  ASSERT_TRUE(client->record(rec::kMessage, ""));
  ASSERT_TRUE(client->content_line("Subject: hi"));
  ASSERT_TRUE(client->content_line(std::string(5000, 'x'), 2048));
  auto outcome = client->finish();
  ASSERT_TRUE(outcome) << outcome.error().text;
  EXPECT_EQ(outcome->status, 0);
  EXPECT_EQ(flags, kCleanupFlagsExternal);
  ASSERT_EQ(got.size(), 8u);
  EXPECT_EQ(got[0], (std::pair<int, std::string>{'S', "alice@example.com"}));
  EXPECT_EQ(got[3], (std::pair<int, std::string>{'N', "Subject: hi"}));
  EXPECT_EQ(got[4].first, 'L');
  EXPECT_EQ(got[5].first, 'L');
  EXPECT_EQ(got[6], (std::pair<int, std::string>{'N', std::string(5000 - 4096, 'x')}));
  EXPECT_EQ(got[7].first, 'E');
}

TEST(CleanupClient, UnreachableOrSilentServiceIsTemporary) {
  auto missing = CleanupClient::open_socket("/nonexistent/public/cleanup", 0,
                                            std::chrono::seconds(1));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kTemporary);
  ScriptedServer server(1, [](Stream& s) {
    attr_write(s, AttrEncoding::kNul, AttrList{{"protocol", "other_protocol"}});
    (void)s.flush();
  });
  auto wrong = CleanupClient::open_socket(server.path(), 0, std::chrono::seconds(2));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::kTemporary);
}

TEST(CleanupClient, StatusDetailsMatchPostfixReplies) {
  EXPECT_EQ(cleanup_status_detail(kCleanupStatSize).smtp, 552);
  EXPECT_EQ(cleanup_status_detail(kCleanupStatSize).dsn, "5.3.4");
  EXPECT_EQ(cleanup_status_detail(kCleanupStatWrite).smtp, 451);
  EXPECT_EQ(cleanup_status_detail(kCleanupStatContent | kCleanupStatDefer).smtp, 451);
  EXPECT_EQ(cleanup_status_detail(kCleanupStatContent).text, "message content rejected");
}

TEST(RewriteClient, RewritesResolvesAndReconnectsAfterABrokenConnection) {
  ScriptedServer server(2, [](Stream& s) {
    attr_write(s, AttrEncoding::kNul, AttrList{{"protocol", "trivial_rewrite_protocol"}});
    ASSERT_TRUE(s.flush());
    for (;;) {
      auto req = attr_read(s, AttrEncoding::kNul);
      if (!req) return;
      if (req->str("request") == "rewrite") {
        attr_write(s, AttrEncoding::kNul,
                   AttrList{{"flags", "0"},
                            {"address", std::string(req->str("address")) + "@example.com"}});
      } else {
        attr_write(s, AttrEncoding::kNul,
                   AttrList{{"flags", "0"}, {"transport", "smtp"}, {"nexthop", "example.org"},
                            {"recipient", std::string(req->str("address"))}, {"flags", "4096"}});
      }
      ASSERT_TRUE(s.flush());
      if (req->str("address") == "hangup") return;  // the next request must reconnect
    }
  });
  RewriteClient client(server.path(), std::chrono::seconds(5));
  auto r = client.rewrite("local", "alice");
  ASSERT_TRUE(r) << r.error().text;
  EXPECT_EQ(*r, "alice@example.com");
  auto res = client.resolve("", "hangup");
  ASSERT_TRUE(res) << res.error().text;
  EXPECT_EQ(res->flags, kResolveClassDefault);
  EXPECT_EQ(res->nexthop, "example.org");
  auto again = client.rewrite("local", "bob");
  ASSERT_TRUE(again) << again.error().text;
  EXPECT_EQ(*again, "bob@example.com");
}

}  // namespace
}  // namespace postern
