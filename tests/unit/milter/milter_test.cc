// The milter protocol client against a scripted fake milter on a UNIX
// socket: packet encoding, negotiation, replies, modifications, the
// default action for a milter that is down, hangs or misbehaves.
#include "global/milter.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "global/config.h"
#include "util/socket.h"

namespace postern::milter {
namespace {

struct Packet {
  char cmd = 0;
  std::string data;
};

bool read_all(int fd, char* buf, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, buf, n);
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

std::optional<Packet> read_packet(int fd) {
  char hdr[4];
  if (!read_all(fd, hdr, 4)) return std::nullopt;
  uint32_t len;
  std::memcpy(&len, hdr, 4);
  len = ntohl(len);
  std::string body(len, '\0');
  if (!read_all(fd, body.data(), len)) return std::nullopt;
  return Packet{body[0], body.substr(1)};
}

void write_packet(int fd, char cmd, std::string_view data = {}) {
  uint32_t len = htonl(static_cast<uint32_t>(data.size() + 1));
  std::string out(reinterpret_cast<const char*>(&len), 4);
  out += cmd;
  out += data;
  (void)write_all(fd, out);
}

std::string u32(uint32_t v) {
  uint32_t n = htonl(v);
  return std::string(reinterpret_cast<const char*>(&n), 4);
}

// Runs `script` for the one connection the test makes; records every
// packet the MTA sent.
class FakeMilter {
 public:
  using Script = std::function<void(int fd, FakeMilter& self)>;
  explicit FakeMilter(Script script) {
    dir_ = std::filesystem::temp_directory_path() /
           ("milter_test." + std::to_string(::getpid()) + "." + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "sock").string();
    auto l = listen_unix(path_, 5);
    EXPECT_TRUE(l);
    listener_ = std::move(*l);
    set_nonblocking(listener_.get(), false);
    thread_ = std::thread([this, script] {
      int fd = ::accept(listener_.get(), nullptr, nullptr);
      if (fd < 0) return;
      script(fd, *this);
      ::close(fd);
    });
  }
  ~FakeMilter() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    std::filesystem::remove_all(dir_);
  }
  std::string spec() const { return "unix:" + path_; }
  // Reads one packet, remembers it.
  std::optional<Packet> next(int fd) {
    auto p = read_packet(fd);
    if (p) seen.push_back(*p);
    return p;
  }
  // Standard negotiation reply.
  void negotiate(int fd, uint32_t actions = 0x1ff, uint32_t pflags = 0, std::string extra = "") {
    auto p = next(fd);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->cmd, 'O');
    write_packet(fd, 'O', u32(6) + u32(actions) + u32(pflags) + extra);
  }
  std::vector<Packet> seen;

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  std::string path_;
  UniqueFd listener_;
  std::thread thread_;
};

Settings settings(const std::string& spec, std::string action = "tempfail") {
  Settings s;
  s.name = spec;
  s.default_action = std::move(action);
  s.command_timeout = 2;
  s.content_timeout = 2;
  s.connect_timeout = 2;
  s.macros[kMacroConnect] = "j {daemon_name}";
  return s;
}

MacroFn macros() {
  return [](std::string_view n) -> std::optional<std::string> {
    if (n == "j") return std::string("mx.example");
    if (n == "{daemon_name}") return std::string("ORIGINATING");
    return std::nullopt;
  };
}

TEST(Milter, NegotiationOffersVersion6AllActionsAndSteps) {
  std::string offer;
  FakeMilter fake([&](int fd, FakeMilter& f) {
    auto p = f.next(fd);
    if (p) offer = p->data;
    write_packet(fd, 'O', u32(6) + u32(0x41) + u32(0x2));
    f.next(fd);  // quit
  });
  auto m = Milter::open(settings(fake.spec()));
  EXPECT_FALSE(m->failed());
  EXPECT_EQ(m->actions(), 0x41u);
  EXPECT_EQ(m->protocol_flags(), 0x2u);
  m->quit();
  ASSERT_EQ(offer.size(), 12u);
  EXPECT_EQ(offer, u32(6) + u32(0x1ff) + u32(0x1fffff));
}

TEST(Milter, ConnectSendsMacrosThenHostFamilyPortAddress) {
  FakeMilter fake([](int fd, FakeMilter& f) {
    f.negotiate(fd);
    f.next(fd);  // macros
    f.next(fd);  // connect
    write_packet(fd, 'c');
    f.next(fd);  // quit
  });
  auto m = Milter::open(settings(fake.spec()));
  auto r = m->connect("client.example", "192.0.2.1", 4321, macros());
  EXPECT_EQ(r.kind, Reply::kContinue);
  m->quit();
  ASSERT_GE(fake.seen.size(), 3u);
  EXPECT_EQ(fake.seen[1].cmd, 'D');
  EXPECT_EQ(fake.seen[1].data, std::string("Cj\0mx.example\0{daemon_name}\0ORIGINATING\0", 40));
  EXPECT_EQ(fake.seen[2].cmd, 'C');
  std::string want = std::string("client.example\0", 15) + "4" + "\x10\xe1" +
                     std::string("192.0.2.1\0", 10);
  EXPECT_EQ(fake.seen[2].data, want);
}

TEST(Milter, NegotiatedMacroListReplacesTheConfiguredOne) {
  FakeMilter fake([](int fd, FakeMilter& f) {
    f.negotiate(fd, 0x1ff, 0, u32(kMacroConnect) + std::string("{daemon_name}\0", 14));
    f.next(fd);
    f.next(fd);
    write_packet(fd, 'c');
  });
  auto m = Milter::open(settings(fake.spec()));
  m->connect("h", "192.0.2.1", 1, macros());
  m->quit();
  ASSERT_GE(fake.seen.size(), 2u);
  EXPECT_EQ(fake.seen[1].data, std::string("C{daemon_name}\0ORIGINATING\0", 27));
}

TEST(Milter, RejectTempfailAndReplyCode) {
  FakeMilter fake([](int fd, FakeMilter& f) {
    f.negotiate(fd, 0x1ff, kNoConnect | kNoHelo);
    f.next(fd);  // mail
    write_packet(fd, 'r');
    f.next(fd);  // rcpt
    write_packet(fd, 't');
    f.next(fd);  // rcpt
    write_packet(fd, 'y', std::string("554 5.7.1 No thanks\0", 20));
  });
  auto m = Milter::open(settings(fake.spec()));
  EXPECT_EQ(m->connect("h", "192.0.2.1", 1, {}).kind, Reply::kContinue);  // not sent
  auto r = m->mail({"<a@example.com>", "SIZE=10"}, {});
  EXPECT_EQ(r.kind, Reply::kReject);
  EXPECT_EQ(r.text, "550 5.7.1 Command rejected");
  r = m->rcpt({"<b@example.com>"}, {});
  EXPECT_EQ(r.kind, Reply::kTempfail);
  EXPECT_EQ(r.text, "451 4.7.1 Service unavailable - try again later");
  r = m->rcpt({"<c@example.com>"}, {});
  EXPECT_EQ(r.kind, Reply::kReject);
  EXPECT_EQ(r.text, "554 5.7.1 No thanks");
  m->quit();
  ASSERT_GE(fake.seen.size(), 2u);
  EXPECT_EQ(fake.seen[1].cmd, 'M');
  EXPECT_EQ(fake.seen[1].data, std::string("<a@example.com>\0SIZE=10\0", 24));
}

TEST(Milter, EndOfMessageModifications) {
  FakeMilter fake([](int fd, FakeMilter& f) {
    f.negotiate(fd, 0x1ff & ~0x08u);  // no delete-recipient permission
    f.next(fd);  // header
    write_packet(fd, 'c');
    f.next(fd);  // eom
    write_packet(fd, 'h', std::string("X-Test\0yes\0", 11));
    write_packet(fd, 'm', u32(1) + std::string("Subject\0new\0", 12));
    write_packet(fd, 'i', u32(0) + std::string("X-First\0one\0", 12));
    write_packet(fd, 'p');
    write_packet(fd, 'b', "new body\r\n");
    write_packet(fd, '+', std::string("<new@example.com>\0", 18));
    write_packet(fd, '-', std::string("<old@example.com>\0", 18));
    write_packet(fd, 'e', std::string("<from@example.com>\0", 19));
    write_packet(fd, 'c');
  });
  auto m = Milter::open(settings(fake.spec()));
  EXPECT_EQ(m->header("Subject", " hi").kind, Reply::kContinue);
  std::vector<Modification> mods;
  auto r = m->eom({}, &mods);
  EXPECT_EQ(r.kind, Reply::kContinue);
  m->quit();
  ASSERT_EQ(mods.size(), 6u);  // the delete was not negotiated
  EXPECT_EQ(mods[0].kind, Modification::kAddHeader);
  EXPECT_EQ(mods[0].name, "X-Test");
  EXPECT_EQ(mods[1].kind, Modification::kChangeHeader);
  EXPECT_EQ(mods[1].index, 1u);
  EXPECT_EQ(mods[1].value, "new");
  EXPECT_EQ(mods[2].kind, Modification::kInsertHeader);
  EXPECT_EQ(mods[3].kind, Modification::kReplaceBody);
  EXPECT_EQ(mods[3].value, "new body\r\n");
  EXPECT_EQ(mods[4].kind, Modification::kAddRcpt);
  EXPECT_EQ(mods[5].kind, Modification::kChangeFrom);
  EXPECT_EQ(mods[5].name, "<from@example.com>");
  ASSERT_GE(fake.seen.size(), 2u);
  // The leading space of the value is not sent (no SMFIP_HDR_LEADSPC).
  EXPECT_EQ(fake.seen[1].data, std::string("Subject\0hi\0", 11));
}

TEST(Milter, QuarantineBecomesHold) {
  FakeMilter fake([](int fd, FakeMilter& f) {
    f.negotiate(fd);
    f.next(fd);
    write_packet(fd, 'q', std::string("suspicious\0", 11));
    write_packet(fd, 'a');
  });
  auto m = Milter::open(settings(fake.spec()));
  std::vector<Modification> mods;
  auto r = m->eom({}, &mods);
  EXPECT_EQ(r.kind, Reply::kQuarantine);
  EXPECT_EQ(r.text, "suspicious");
  EXPECT_TRUE(mods.empty());
  m->quit();
}

TEST(Milter, DownMilterGivesDefaultAction) {
  auto dir = std::filesystem::temp_directory_path() / "milter_test_nonexistent.sock";
  auto m = Milter::open(settings("unix:" + dir.string(), "tempfail"));
  EXPECT_TRUE(m->failed());
  auto r = m->mail({"<a@b>"}, {});
  EXPECT_EQ(r.kind, Reply::kTempfail);
  EXPECT_EQ(r.text, "451 4.7.1 Service unavailable - try again later");
  auto a = Milter::open(settings("unix:" + dir.string(), "accept"));
  EXPECT_EQ(a->mail({"<a@b>"}, {}).kind, Reply::kContinue);
  auto j = Milter::open(settings("unix:" + dir.string(), "reject"));
  EXPECT_EQ(j->rcpt({"<a@b>"}, {}).text, "550 5.7.1 Command rejected");
  auto q = Milter::open(settings("unix:" + dir.string(), "quarantine"));
  EXPECT_EQ(q->rcpt({"<a@b>"}, {}).kind, Reply::kQuarantine);
}

TEST(Milter, HangingMilterTimesOut) {
  FakeMilter fake([](int fd, FakeMilter& f) {
    f.negotiate(fd);
    f.next(fd);  // mail: never answered
    char c;
    (void)::read(fd, &c, 1);  // until the client gives up
  });
  auto s = settings(fake.spec(), "reject");
  s.command_timeout = 1;
  auto m = Milter::open(s);
  auto r = m->mail({"<a@b>"}, {});
  EXPECT_EQ(r.kind, Reply::kReject);
  EXPECT_TRUE(m->failed());
  // Later events get the default action without talking to the milter.
  EXPECT_EQ(m->rcpt({"<c@d>"}, {}).kind, Reply::kReject);
}

TEST(Milter, GarbageReplyIsAnError) {
  FakeMilter fake([](int fd, FakeMilter& f) {
    f.negotiate(fd);
    f.next(fd);
    // A length far beyond any sane packet.
    (void)write_all(fd, std::string("\x7f\xff\xff\xff", 4) + "c");
  });
  auto m = Milter::open(settings(fake.spec(), "tempfail"));
  EXPECT_EQ(m->mail({"<a@b>"}, {}).kind, Reply::kTempfail);
  EXPECT_TRUE(m->failed());
}

TEST(Milter, AcceptSkipsTheRestOfTheMessage) {
  FakeMilter fake([](int fd, FakeMilter& f) {
    f.negotiate(fd);
    f.next(fd);  // mail
    write_packet(fd, 'a');
    f.next(fd);  // abort
    f.next(fd);  // mail again
    write_packet(fd, 'c');
    f.next(fd);
  });
  auto m = Milter::open(settings(fake.spec()));
  EXPECT_EQ(m->mail({"<a@b>"}, {}).kind, Reply::kAccept);
  EXPECT_TRUE(m->skipped());
  EXPECT_EQ(m->rcpt({"<c@d>"}, {}).kind, Reply::kContinue);  // not sent
  m->abort();
  EXPECT_FALSE(m->skipped());
  EXPECT_EQ(m->mail({"<a@b>"}, {}).kind, Reply::kContinue);
  m->quit();
  ASSERT_GE(fake.seen.size(), 4u);
  EXPECT_EQ(fake.seen[2].cmd, 'A');
  EXPECT_EQ(fake.seen[3].cmd, 'M');
}

TEST(MilterList, ParsesPlainAndBracedEntries) {
  Config cfg;
  cfg.set_override("milter_default_action", "accept");
  cfg.set_override("milter_command_timeout", "10s");
  auto l = parse_milter_list(
      cfg, "smtpd_milters",
      "inet:127.0.0.1:8891, { unix:/run/x.sock, command_timeout=1m, default_action=tempfail }");
  ASSERT_TRUE(l) << l.error().text;
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].name, "inet:127.0.0.1:8891");
  EXPECT_EQ((*l)[0].default_action, "accept");
  EXPECT_EQ((*l)[0].command_timeout, 10);
  EXPECT_EQ((*l)[1].name, "unix:/run/x.sock");
  EXPECT_EQ((*l)[1].command_timeout, 60);
  EXPECT_EQ((*l)[1].default_action, "tempfail");
  EXPECT_EQ((*l)[1].macros[kMacroConnect], "j {daemon_name} {daemon_addr} v _");

  auto bad = parse_milter_list(cfg, "smtpd_milters", "{ inet:1.2.3.4:5, default_action=maybe }");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().text.find("default_action"), std::string::npos);
  EXPECT_FALSE(parse_milter_list(cfg, "smtpd_milters", "{ inet:1.2.3.4:5"));
}

}  // namespace
}  // namespace postern::milter
