// The SMTP state machine over a socketpair, with fake cleanup and lookups.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "fakes.h"
#include "global/config.h"
#include "global/rec_type.h"
#include "smtpd/smtpd_session.h"

using namespace postern;
using namespace postern::smtpd;
using postern::smtpd::testing::FakeLookups;

namespace {

struct FakeMessage {
  std::vector<std::pair<int, std::string>> records;
  bool finished = false;
};

class FakeSink : public MessageSink {
 public:
  explicit FakeSink(FakeMessage* m) : m_(m) {}
  const std::string& queue_id() const override { return id_; }
  Status record(int type, std::string_view data) override {
    m_->records.emplace_back(type, std::string(data));
    return {};
  }
  Result<CleanupOutcome> finish() override {
    m_->finished = true;
    return CleanupOutcome{};
  }

 private:
  FakeMessage* m_;
  std::string id_ = "4F00A1B2C3";
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg.set_override("myhostname", "mx.example");
    cfg.set_override("smtpd_banner", "$myhostname ESMTP");
    cfg.set_override("mynetworks", "192.0.2.0/24");
    cfg.set_override("smtpd_relay_restrictions", "permit_mynetworks, reject_unauth_destination");
    lookups.classes["local.example"] = kResolveClassLocal;
  }
  void start() {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    client = sv[0];
    settings = SessionSettings::from_config(cfg);
    auto c = Checker::from_config(cfg, lookups);
    ASSERT_TRUE(c);
    checker.emplace(std::move(*c));
    server = std::thread([this, fd = sv[1]] {
      Stream s = Stream::from_fd(UniqueFd(fd));
      CheckState st;
      st.client_name = "client.example";
      st.reverse_name = "client.example";
      st.client_addr = "198.51.100.7";
      SinkOpener opener = [this](int) -> Result<std::unique_ptr<MessageSink>> {
        if (cleanup_down) return fail(Errc::kTemporary, "connect: refused");
        messages.push_back(std::make_unique<FakeMessage>());
        return std::make_unique<FakeSink>(messages.back().get());
      };
      Session session(s, settings, *checker, opener, std::move(st));
      session.run();
    });
    EXPECT_EQ(read_reply(), "220 mx.example ESMTP");
  }
  void TearDown() override {
    if (client >= 0) ::close(client);
    if (server.joinable()) server.join();
  }
  void send(std::string_view data) {
    ASSERT_EQ(::write(client, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  // The whole (multi-line) reply, lines joined with "|".
  std::string read_reply() {
    std::string out, line;
    for (;;) {
      char ch;
      ssize_t n = ::read(client, &ch, 1);
      if (n <= 0) return out + "<eof>";
      if (ch != '\n') {
        line += ch;
        continue;
      }
      if (!line.empty() && line.back() == '\r') line.pop_back();
      out += (out.empty() ? "" : "|") + line;
      bool more = line.size() > 3 && line[3] == '-';
      line.clear();
      if (!more) return out;
    }
  }
  std::string cmd(std::string_view line) {
    send(std::string(line) + "\r\n");
    return read_reply();
  }

  Config cfg;
  FakeLookups lookups;
  SessionSettings settings;
  std::optional<Checker> checker;
  std::vector<std::unique_ptr<FakeMessage>> messages;
  bool cleanup_down = false;
  int client = -1;
  std::thread server;
};

}  // namespace

TEST_F(SessionTest, AcceptsAMessage) {
  start();
  EXPECT_EQ(cmd("EHLO c.example"),
            "250-mx.example|250-PIPELINING|250-SIZE 10240000|250-VRFY|250-ETRN|"
            "250-ENHANCEDSTATUSCODES|250-8BITMIME|250-DSN|250-SMTPUTF8|250 CHUNKING");
  EXPECT_EQ(cmd("MAIL FROM:<s@sender.example>"), "250 2.1.0 Ok");
  EXPECT_EQ(cmd("RCPT TO:<x@elsewhere.example>"), "554 5.7.1 <x@elsewhere.example>: Relay access denied");
  EXPECT_EQ(cmd("RCPT TO:<u@local.example>"), "250 2.1.5 Ok");
  EXPECT_EQ(cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>");
  EXPECT_EQ(cmd("Subject: x\r\n\r\n..dot\r\n."), "250 2.0.0 Ok: queued as 4F00A1B2C3");
  EXPECT_EQ(cmd("QUIT"), "221 2.0.0 Bye");
  ASSERT_EQ(messages.size(), 1u);
  const auto& r = messages[0]->records;
  EXPECT_TRUE(messages[0]->finished);
  auto find = [&](int type) {
    std::vector<std::string> out;
    for (const auto& [t, d] : r)
      if (t == type) out.push_back(d);
    return out;
  };
  EXPECT_EQ(find(rec::kSender), std::vector<std::string>{"s@sender.example"});
  EXPECT_EQ(find(rec::kRecipient), std::vector<std::string>{"u@local.example"});
  auto lines = find(rec::kNorm);
  ASSERT_GE(lines.size(), 6u);
  EXPECT_EQ(lines[0], "Received: from c.example (client.example [198.51.100.7])");
  EXPECT_EQ(lines[1], "\tby mx.example (Postern) with ESMTP id 4F00A1B2C3");
  EXPECT_EQ(lines[2].substr(0, 23), "\tfor <u@local.example>;");
  EXPECT_EQ(lines[3], "Subject: x");
  EXPECT_EQ(lines[5], ".dot");
}

TEST_F(SessionTest, OutOfOrderAndUnknownCommands) {
  start();
  EXPECT_EQ(cmd("RCPT TO:<u@local.example>"), "503 5.5.1 Error: need MAIL command");
  EXPECT_EQ(cmd("DATA"), "503 5.5.1 Error: need RCPT command");
  EXPECT_EQ(cmd("XYZZY"), "500 5.5.2 Error: command not recognized");
  EXPECT_EQ(cmd("MAIL FROM:<a@b.example>"), "250 2.1.0 Ok");
  EXPECT_EQ(cmd("MAIL FROM:<a@b.example>"), "503 5.5.1 Error: nested MAIL command");
  EXPECT_EQ(cmd("DATA"), "554 5.5.1 Error: no valid recipients");
}

TEST_F(SessionTest, HeloRequired) {
  cfg.set_override("smtpd_helo_required", "yes");
  start();
  EXPECT_EQ(cmd("MAIL FROM:<a@b.example>"), "503 5.5.1 Error: send HELO/EHLO first");
  EXPECT_EQ(cmd("HELO c.example"), "250 mx.example");
  EXPECT_EQ(cmd("MAIL FROM:<a@b.example>"), "250 2.1.0 Ok");
}

TEST_F(SessionTest, RecipientLimitAndCleanupDown) {
  cfg.set_override("smtpd_recipient_limit", "1");
  start();
  cmd("EHLO c.example");
  cmd("MAIL FROM:<a@b.example>");
  EXPECT_EQ(cmd("RCPT TO:<u@local.example>"), "250 2.1.5 Ok");
  EXPECT_EQ(cmd("RCPT TO:<v@local.example>"), "452 4.5.3 Error: too many recipients");
  EXPECT_EQ(cmd("RSET"), "250 2.0.0 Ok");
  cleanup_down = true;
  cmd("MAIL FROM:<a@b.example>");
  EXPECT_EQ(cmd("RCPT TO:<u@local.example>"), "451 4.3.0 Error: queue file write error");
  EXPECT_EQ(cmd("DATA"), "451 4.3.0 Error: queue file write error");
}

TEST_F(SessionTest, BdatAndEofMidData) {
  start();
  cmd("EHLO c.example");
  cmd("MAIL FROM:<a@b.example>");
  cmd("RCPT TO:<u@local.example>");
  send("BDAT 9\r\nSubject: ");
  EXPECT_EQ(read_reply(), "250 2.0.0 Ok: 9 bytes");
  send("BDAT 5 LAST\r\nx\r\n\r\n");
  EXPECT_EQ(read_reply(), "250 2.0.0 Ok: 14 bytes queued as 4F00A1B2C3");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_TRUE(messages[0]->finished);
  cmd("MAIL FROM:<a@b.example>");
  cmd("RCPT TO:<u@local.example>");
  EXPECT_EQ(cmd("DATA").substr(0, 3), "354");
  send("Subject: partial\r\n");
  ::shutdown(client, SHUT_WR);
  EXPECT_EQ(read_reply(), "<eof>");
  server.join();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_FALSE(messages[1]->finished);
}
