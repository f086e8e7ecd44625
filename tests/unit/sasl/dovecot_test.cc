// The Dovecot back end against a scripted auth server on a UNIX socket
// (the real Dovecot is exercised by tests/system/test_sasl_dovecot.py).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "global/config.h"
#include "sasl/base64.h"
#include "sasl/sasl_server.h"
#include "util/log.h"
#include "util/stream.h"

namespace postern::sasl {
namespace {

using namespace std::chrono_literals;

// Accepts one connection, sends the handshake, then answers each request
// line with handler(line) (an empty answer closes the connection).
class FakeDovecot {
 public:
  using Handler = std::function<std::string(const std::string&)>;
  explicit FakeDovecot(Handler handler) : handler_(std::move(handler)) {
    char tmpl[] = "/tmp/postern-dovecot-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/auth";
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path_.c_str(), sizeof sun.sun_path - 1);
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
    EXPECT_EQ(::listen(listener_.get(), 4), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeDovecot() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
    std::filesystem::remove_all(dir_);
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> requests;  // lines received after the handshake

 private:
  void serve() {
    UniqueFd fd(::accept(listener_.get(), nullptr, nullptr));
    if (!fd) return;
    Stream s = Stream::from_fd(std::move(fd));
    s.set_timeout(5s);
    (void)s.write_flush(
        "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
        "MECH\tANONYMOUS\tanonymous\nMECH\tCRAM-MD5\tdictionary\tactive\n"
        "SPID\t1\nCUID\t1\nCOOKIE\tabc\nDONE\n");
    for (;;) {
      auto line = s.read_line(65536);
      if (!line) return;
      if (line->starts_with("VERSION") || line->starts_with("CPID")) continue;
      requests.push_back(*line);
      std::string answer = handler_(*line);
      if (answer.empty()) return;
      if (!s.write_flush(answer)) return;
    }
  }
  Handler handler_;
  std::string dir_, path_;
  UniqueFd listener_;
  std::thread thread_;
};

Config dovecot_config(const std::string& path) {
  Config cfg;
  cfg.set_override("smtpd_sasl_type", "dovecot");
  cfg.set_override("smtpd_sasl_path", path);
  return cfg;
}

ConnectionInfo conn(bool tls = false) { return {"192.0.2.1", 40000, "127.0.0.1", 25, tls, false}; }

TEST(Dovecot, MechanismsFollowSecurityOptions) {
  FakeDovecot fake([](const std::string&) { return ""; });
  auto cfg = dovecot_config(fake.path());
  cfg.set_override("smtpd_sasl_security_options", "noanonymous, noplaintext");
  cfg.set_override("smtpd_sasl_tls_security_options", "noanonymous");
  auto backend = ServerBackend::create(cfg);
  ASSERT_TRUE(backend) << backend.error().text;
  auto plain = (*backend)->open(conn(false));
  ASSERT_TRUE(plain) << plain.error().text;
  EXPECT_EQ((*plain)->mechanisms(), (std::vector<std::string>{"CRAM-MD5"}));
  auto tls = (*backend)->open(conn(true));
  ASSERT_TRUE(tls);
  EXPECT_EQ((*tls)->mechanisms(), (std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5"}));
}

TEST(Dovecot, PlainSuccessSendsConnectionDetails) {
  FakeDovecot fake([](const std::string& line) {
    return line.starts_with("AUTH\t1\t") ? "OK\t1\tuser=alice@example.com\n" : "";
  });
  auto backend = ServerBackend::create(dovecot_config(fake.path()));
  ASSERT_TRUE(backend);
  auto session = (*backend)->open(conn(true));
  ASSERT_TRUE(session);
  std::string initial = base64_encode(std::string("\0alice\0secret", 13));
  auto r = (*session)->start("plain", initial);
  EXPECT_EQ(r.kind, ServerReply::Kind::kSuccess) << r.reason;
  EXPECT_EQ(r.username, "alice@example.com");
  ASSERT_EQ(fake.requests.size(), 1u);
  EXPECT_EQ(fake.requests[0], "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\t"
                              "rip=192.0.2.1\tlport=25\trport=40000\tsecured\tresp=" + initial);
}

TEST(Dovecot, LoginContinuesThenFails) {
  FakeDovecot fake([](const std::string& line) -> std::string {
    if (line.starts_with("AUTH")) return "CONT\t1\tVXNlcm5hbWU6\n";
    if (line == "CONT\t1\t" + base64_encode("alice")) return "CONT\t1\tUGFzc3dvcmQ6\n";
    return "FAIL\t1\tuser=alice\treason=Password mismatch\n";
  });
  auto backend = ServerBackend::create(dovecot_config(fake.path()));
  auto session = (*backend)->open(conn());
  ASSERT_TRUE(session);
  auto r = (*session)->start("LOGIN", std::nullopt);
  ASSERT_EQ(r.kind, ServerReply::Kind::kContinue);
  EXPECT_EQ(r.challenge, "VXNlcm5hbWU6");
  r = (*session)->step(base64_encode("alice"));
  ASSERT_EQ(r.kind, ServerReply::Kind::kContinue);
  r = (*session)->step(base64_encode("wrong"));
  EXPECT_EQ(r.kind, ServerReply::Kind::kFailure);
  EXPECT_FALSE(r.temporary);
  EXPECT_EQ(r.reason, "Password mismatch");
  EXPECT_EQ(fake.requests[0].find("resp="), std::string::npos);  // no initial response
}

TEST(Dovecot, TemporaryFailureAndLostConnection) {
  FakeDovecot fake([](const std::string& line) -> std::string {
    if (line.starts_with("AUTH\t1\t")) return "FAIL\t1\ttemp\n";
    return "";  // hang up on the second request
  });
  auto backend = ServerBackend::create(dovecot_config(fake.path()));
  auto session = (*backend)->open(conn());
  ASSERT_TRUE(session);
  auto r = (*session)->start("PLAIN", "=");
  EXPECT_EQ(r.kind, ServerReply::Kind::kFailure);
  EXPECT_TRUE(r.temporary);
  EXPECT_EQ(fake.requests[0].substr(fake.requests[0].size() - 7), "\tresp==");  // as Postfix
  auto r2 = (*session)->start("PLAIN", base64_encode(std::string("\0a\0b", 4)));
  EXPECT_EQ(r2.kind, ServerReply::Kind::kFailure);
  EXPECT_TRUE(r2.temporary);
}

TEST(Dovecot, MalformedInputNeverReachesTheServer) {
  FakeDovecot fake([](const std::string&) { return "OK\t1\tuser=x\n"; });
  auto backend = ServerBackend::create(dovecot_config(fake.path()));
  auto session = (*backend)->open(conn());
  ASSERT_TRUE(session);
  auto r = (*session)->start("PLAIN", "AGFsaWNl\tuser=root");
  EXPECT_TRUE(r.malformed);
  auto unknown = (*session)->start("GSSAPI", std::nullopt);
  EXPECT_EQ(unknown.kind, ServerReply::Kind::kFailure);
  EXPECT_FALSE(unknown.temporary);
  EXPECT_TRUE(fake.requests.empty());
}

TEST(Dovecot, ServiceDownIsTemporary) {
  log::init("smtpd", "test");
  log::disable_syslog();
  auto backend = ServerBackend::create(dovecot_config("/nonexistent/private/auth"));
  ASSERT_TRUE(backend);
  auto session = (*backend)->open(conn());
  ASSERT_FALSE(session);
  EXPECT_EQ(session.error().code, Errc::kTemporary);
  EXPECT_NE(session.error().text.find("/nonexistent/private/auth"), std::string::npos);
  // A relative smtpd_sasl_path lives under the queue directory.
  Config rel = dovecot_config("private/auth");
  rel.set_override("queue_directory", "/nonexistent/spool");
  auto b2 = ServerBackend::create(rel);
  ASSERT_TRUE(b2);
  auto s2 = (*b2)->open(conn());
  ASSERT_FALSE(s2);
  // The log and error name the path as configured; the socket is under the queue directory.
  EXPECT_NE(s2.error().text.find("Connect to Dovecot auth socket 'private/auth' failed"),
            std::string::npos)
      << s2.error().text;
}

}  // namespace
}  // namespace postern::sasl
