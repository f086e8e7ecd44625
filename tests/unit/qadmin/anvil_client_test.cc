// AnvilClient against a scripted anvil on a real UNIX-domain socket.
#include "global/anvil_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "anvil/anvil_table.h"
#include "global/attr.h"
#include "util/socket.h"
#include "util/stream.h"

using namespace postern;

namespace {

// Serves `connections` clients in turn; each gets at most `per_client`
// answers (then the server hangs up, as a restarted anvil would).
void serve(int listen_fd, int connections, int per_client, std::vector<std::string>* seen) {
  AnvilTable table(60);
  for (int c = 0; c < connections; ++c) {
    auto fd = accept_connection(listen_fd);
    for (int tries = 0; !fd && tries < 500; ++tries) {
      ::usleep(10000);
      fd = accept_connection(listen_fd);
    }
    if (!fd) return;
    Stream s = Stream::from_fd(std::move(*fd));
    s.set_timeout(std::chrono::seconds(5));
    (void)s.write_flush(attr_encode(AttrEncoding::kPlain, AttrList{{"protocol", "anvil_protocol"}}));
    for (int i = 0; i < per_client; ++i) {
      auto req = attr_read(s, AttrEncoding::kPlain);
      if (!req) break;
      std::string what(req->str("request")), ident(req->str("ident"));
      seen->push_back(what + " " + ident);
      AttrList out;
      if (what == "connect") {
        const AnvilEntry& e = table.connect(ident, 1000);
        out.add("status", 0).add("count", e.count).add("rate", e.rate);
      } else if (what == "message") {
        out.add("status", 0).add("rate", table.message(ident, 1000).mail);
      } else if (what == "lookup") {
        AnvilEntry e = table.lookup(ident, 1000);
        out.add("status", 0).add("count", e.count).add("rate", e.rate).add("mail", e.mail);
        out.add("rcpt", e.rcpt).add("newtls", e.newtls).add("auth", e.auth);
      } else {
        out.add("status", -1);
      }
      (void)s.write_flush(attr_encode(AttrEncoding::kPlain, out));
    }
  }
}

std::string socket_path() {
  return (std::filesystem::temp_directory_path() /
          ("anvil-test-" + std::to_string(::getpid()))).string();
}

TEST(AnvilClient, RequestsAndReplies) {
  std::string path = socket_path();
  auto lfd = listen_unix(path, 5);
  ASSERT_TRUE(lfd) << lfd.error().text;
  std::vector<std::string> seen;
  std::thread server(serve, lfd->get(), 1, 4, &seen);
  AnvilClient client(path, std::chrono::seconds(5));
  auto c = client.connect("smtp", "127.0.0.1");
  ASSERT_TRUE(c) << c.error().text;
  EXPECT_EQ(c->count, 1);
  EXPECT_EQ(c->rate, 1);
  EXPECT_EQ(client.message("smtp", "127.0.0.1").value_or(-1), 1);
  auto l = client.lookup("smtp", "127.0.0.1");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->mail, 1);
  EXPECT_FALSE(client.auth("smtp", "127.0.0.1"));  // status -1 from the server
  client.close();
  server.join();
  EXPECT_EQ(seen, (std::vector<std::string>{"connect smtp:127.0.0.1", "message smtp:127.0.0.1",
                                            "lookup smtp:127.0.0.1", "auth smtp:127.0.0.1"}));
  ::unlink(path.c_str());
}

TEST(AnvilClient, ReconnectsAfterTheServerHungUp) {
  std::string path = socket_path();
  auto lfd = listen_unix(path, 5);
  ASSERT_TRUE(lfd) << lfd.error().text;
  std::vector<std::string> seen;
  std::thread server(serve, lfd->get(), 2, 1, &seen);
  AnvilClient client(path, std::chrono::seconds(5));
  EXPECT_TRUE(client.connect("smtp", "10.0.0.1"));
  auto again = client.message("smtp", "10.0.0.1");  // first stream is gone: a new one
  EXPECT_TRUE(again) << (again ? "" : again.error().text);
  client.close();
  server.join();
  EXPECT_EQ(seen.size(), 2u);
  ::unlink(path.c_str());
}

TEST(AnvilClient, NoServerIsAnError) {
  AnvilClient client("/nonexistent/anvil", std::chrono::seconds(1));
  EXPECT_FALSE(client.connect("smtp", "1.2.3.4"));
  EXPECT_EQ(AnvilClient::ident("smtp", "1.2.3.4"), "smtp:1.2.3.4");
}

}  // namespace
