// cleanup::Message: records in, queue file out.
#include "cleanup/message.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "global/cleanup_client.h"
#include "global/rec_type.h"
#include "global/record.h"

#include <fmt/format.h>

namespace postern::cleanup {
namespace {

struct Out {
  int status = 0;
  std::string reason;
  bool hold = false, discard = false;
  std::vector<Record> records;  // everything in the file
  std::vector<std::string> content() const {
    std::vector<std::string> lines;
    bool in = false;
    for (const auto& r : records) {
      if (r.type == rec::kMessage) in = true;
      else if (r.type == rec::kExtracted) in = false;
      else if (in && r.type == rec::kNorm) lines.push_back(r.data);
    }
    return lines;
  }
  std::vector<std::string> of_type(int type) const {
    std::vector<std::string> v;
    for (const auto& r : records)
      if (r.type == type) v.push_back(r.data);
    return v;
  }
  bool has_line_starting(std::string_view p) const {
    for (const auto& l : content())
      if (l.starts_with(p)) return true;
    return false;
  }
};

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/cleanup_test_XXXXXX";
  int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  return path;
}

class MessageTest : public ::testing::Test {
 protected:
  Settings settings;
  Tables tables;
  int flags = kCleanupFlagsExternal;
  // user -> user@example.org, like trivial-rewrite with myorigin.
  RewriteFn rewrite = [](std::string_view, std::string_view a) {
    std::string s(a);
    if (s.find('@') == std::string::npos) s += "@example.org";
    return s;
  };

  void SetUp() override { settings.myhostname = "mail.example.org"; }

  void set_table(maps::MapList& list, const std::string& title, const std::string& spec) {
    auto l = maps::MapList::open(title, spec, maps::kTryNull | maps::kTryNoNull);
    ASSERT_TRUE(l) << l.error().text;
    list = std::move(*l);
  }
  void set_regexp(maps::MapList& list, const std::string& rules) {
    set_table(list, "header_checks", "regexp:" + write_temp(rules));
  }

  Out run(const std::vector<std::pair<int, std::string>>& recs) {
    char path[] = "/tmp/cleanup_q_XXXXXX";
    int fd = ::mkstemp(path);
    Out out;
    {
      QueueFileWriter w(fd);
      Message m(settings, tables, rewrite, "ABC123", w, flags, 1700000000);
      for (const auto& [t, d] : recs) m.record(t, d);
      EXPECT_TRUE(m.finished());
      out.status = m.status();
      out.reason = m.reason();
      out.hold = m.hold();
      out.discard = m.discard();
      if (out.status == 0) {
        EXPECT_TRUE(w.commit(fd));
      }
    }
    ::lseek(fd, 0, SEEK_SET);
    RecordReader r(fd, path);
    while (true) {
      auto n = r.next();
      if (!n || !*n) break;
      out.records.push_back(**n);
    }
    ::close(fd);
    ::unlink(path);
    return out;
  }

  static std::vector<std::pair<int, std::string>> message(
      std::vector<std::string> envelope_rcpts, std::vector<std::string> lines,
      std::string context = "local", std::string sender = "joe") {
    std::vector<std::pair<int, std::string>> v{{'T', "1700000000 5"},
                                               {'A', "rewrite_context=" + context},
                                               {'S', sender}};
    for (auto& r : envelope_rcpts) v.push_back({'R', r});
    v.push_back({'M', ""});
    for (auto& l : lines) v.push_back({'N', l});
    v.push_back({'X', ""});
    v.push_back({'E', ""});
    return v;
  }
};

TEST_F(MessageTest, LocalMessageGetsMissingHeadersAndCanonicalAddresses) {
  Out o = run(message({"ann", "ann"}, {"Received: by x", "Return-Path: <evil@x>", "To: ann",
                                       "Subject: hi", "", "body"}));
  ASSERT_EQ(o.status, 0) << o.reason;
  EXPECT_EQ(o.of_type('S'), std::vector<std::string>{"joe@example.org"});
  // Duplicates dropped; O keeps what the client sent.
  EXPECT_EQ(o.of_type('R'), std::vector<std::string>{"ann@example.org"});
  EXPECT_EQ(o.of_type('O'), std::vector<std::string>{"ann"});
  EXPECT_EQ(o.of_type('A')[0], "create_time=1700000000");
  auto c = o.content();
  EXPECT_EQ(c, (std::vector<std::string>{
                   "Received: by x", "To: ann@example.org", "Subject: hi",
                   "Message-Id: <20231114221320.ABC123@mail.example.org>",
                   c[4], "From: joe@example.org", "", "body"}));
  EXPECT_TRUE(c[4].starts_with("Date: Tue, 14 Nov 2023 ")) << c[4];
  EXPECT_EQ(o.records.front().type, 'C');
  EXPECT_EQ(o.records.back().type, 'E');
}

TEST_F(MessageTest, RemoteMessageIsLeftAlone) {
  Out o = run(message({"ann@example.com"}, {"Received: by x", "To: ann", "", "body"}, "remote"));
  ASSERT_EQ(o.status, 0);
  EXPECT_EQ(o.content(), (std::vector<std::string>{"Received: by x", "To: ann", "", "body"}));
}

TEST_F(MessageTest, AlwaysAddMissingHeadersAddsThemForRemoteClients) {
  settings.always_add_missing_headers = true;
  Out o = run(message({"ann@example.com"}, {"Received: by x", "", "body"}, "remote"));
  EXPECT_TRUE(o.has_line_starting("Message-Id: <"));
  EXPECT_TRUE(o.has_line_starting("Date: "));
}

TEST_F(MessageTest, FullNameMakesTheFromHeader) {
  auto recs = message({"ann"}, {"Received: by x", "", "b"});
  recs.insert(recs.begin() + 2, {'F', "Joe Q. Public"});
  Out o = run(recs);
  EXPECT_TRUE(o.has_line_starting("From: \"Joe Q. Public\" <joe@example.org>"));
  EXPECT_EQ(o.of_type('F'), std::vector<std::string>{"Joe Q. Public"});
}

TEST_F(MessageTest, NullSenderFromHeaderIsMailerDaemon) {
  auto recs = message({"ann"}, {"Received: by x", "", "b"}, "local", "");
  recs.insert(recs.begin() + 2, {'F', "Full Name"});
  Out o = run(recs);
  ASSERT_EQ(o.status, 0);
  EXPECT_TRUE(o.has_line_starting("From: MAILER-DAEMON"));
  EXPECT_EQ(o.of_type('S'), std::vector<std::string>{""});
}

TEST_F(MessageTest, ExistingHeadersAreKept) {
  Out o = run(message({"ann"}, {"Received: by x", "Message-ID: <own@id>", "Date: today",
                                "From: Ann <ann@example.com>", "", "b"}));
  ASSERT_EQ(o.status, 0);
  EXPECT_EQ(o.content().size(), 6u);
  EXPECT_FALSE(o.has_line_starting("Message-Id:"));
}

TEST_F(MessageTest, BccHeadersAreRemovedInEveryContext) {
  for (std::string ctx : {"local", "remote"}) {
    Out o = run(message({"ann"}, {"Received: by x", "Bcc: secret@example.com", "Resent-Bcc: s2",
                                  "Subject: s", "", "b"}, ctx));
    EXPECT_FALSE(o.has_line_starting("Bcc:")) << ctx;
    EXPECT_FALSE(o.has_line_starting("Resent-Bcc:")) << ctx;
  }
}

TEST_F(MessageTest, NoReceivedHeaderIsRejected) {
  Out o = run(message({"ann"}, {"Subject: x", "", "b"}));
  EXPECT_EQ(o.status, kCleanupStatBad);
}

TEST_F(MessageTest, NoRecipientsIsRejected) {
  Out o = run(message({}, {"Received: by x", "", "b"}));
  EXPECT_EQ(o.status, kCleanupStatRcpt);
}

TEST_F(MessageTest, ProtocolErrors) {
  EXPECT_EQ(run({{'T', "1 0"}, {'M', ""}}).status, kCleanupStatBad);  // no sender
  EXPECT_EQ(run({{'T', "1 0"}, {'S', "a"}, {'M', ""}, {'N', "x"}, {'E', ""}}).status,
            kCleanupStatBad);  // E in content
  EXPECT_EQ(run({{'T', "1 0"}, {'S', "a"}, {'Z', ""}}).status, kCleanupStatBad);
}

TEST_F(MessageTest, HeaderChecksReject) {
  set_regexp(tables.header_checks, "/^Subject: .*viagra/ REJECT no spam here\n");
  Out o = run(message({"ann"}, {"Received: by x", "Subject: cheap viagra", "", "b"}));
  EXPECT_EQ(o.status, kCleanupStatContent);
  EXPECT_EQ(o.reason, "5.7.1 no spam here");
}

TEST_F(MessageTest, HeaderChecksNeedTheFilterFlag) {
  set_regexp(tables.header_checks, "/^Subject:/ REJECT\n");
  flags = kCleanupFlagMapOk;
  EXPECT_EQ(run(message({"ann"}, {"Received: by x", "Subject: x", "", "b"})).status, 0);
}

TEST_F(MessageTest, HeaderChecksEditActions) {
  set_regexp(tables.header_checks,
             "/^X-Drop:/ IGNORE\n/^X-Old: (.*)/ REPLACE X-New: $1\n/^Subject:/ PREPEND X-Before: 1\n"
             "/^X-Hold:/ HOLD\n/^X-Filter:/ FILTER smtp:[127.0.0.1]:10025\n"
             "/^X-Bcc:/ BCC archive@example.net\n/^X-Redirect:/ REDIRECT trap@example.net\n");
  Out o = run(message({"ann"}, {"Received: by x", "X-Drop: 1", "X-Old: value", "Subject: s",
                                "X-Hold: y", "X-Filter: y", "X-Bcc: y", "X-Redirect: y", "", "b"}));
  ASSERT_EQ(o.status, 0) << o.reason;
  EXPECT_TRUE(o.hold);
  auto c = o.content();
  EXPECT_EQ(std::vector<std::string>(c.begin(), c.begin() + 4),
            (std::vector<std::string>{"Received: by x", "X-New: value", "X-Before: 1", "Subject: s"}));
  EXPECT_FALSE(o.has_line_starting("X-Drop"));
  EXPECT_EQ(o.of_type('L'), std::vector<std::string>{"smtp:[127.0.0.1]:10025"});
  EXPECT_EQ(o.of_type('>'), std::vector<std::string>{"trap@example.net"});
  EXPECT_EQ(o.of_type('R'), (std::vector<std::string>{"ann@example.org", "archive@example.net"}));
}

TEST_F(MessageTest, BodyChecks) {
  set_table(tables.body_checks, "body_checks",
            "regexp:" + write_temp("/^secret/ DISCARD\n/^drop me/ IGNORE\n"));
  Out o = run(message({"ann"}, {"Received: by x", "", "hello", "drop me", "secret stuff"}));
  EXPECT_EQ(o.status, 0);
  EXPECT_TRUE(o.discard);
  auto c = o.content();
  EXPECT_EQ(c.back(), "secret stuff");
  EXPECT_EQ(std::count(c.begin(), c.end(), "drop me"), 0);
}

TEST_F(MessageTest, MimeHeaderChecksSeePartHeaders) {
  set_table(tables.mime_header_checks, "mime_header_checks",
            "regexp:" + write_temp("/^Content-Type:.*name=.*\\.exe/ REJECT no executables\n"));
  Out o = run(message({"ann"}, {"Received: by x", "MIME-Version: 1.0",
                                "Content-Type: multipart/mixed; boundary=\"b\"", "", "--b",
                                "Content-Type: application/octet-stream; name=\"x.exe\"", "",
                                "data", "--b--"}));
  EXPECT_EQ(o.status, kCleanupStatContent);
  EXPECT_EQ(o.reason, "5.7.1 no executables");
}

TEST_F(MessageTest, VirtualAliasesAndCanonicalMaps) {
  set_table(tables.virtual_alias, "virtual_alias_maps",
            "inline:{ {team@example.org = ann@example.net, bob@example.net} }");
  set_table(tables.sender_canonical, "sender_canonical_maps",
            "inline:{ {joe@example.org = joe.public@example.org} }");
  Out o = run(message({"team"}, {"Received: by x", "From: joe", "", "b"}));
  ASSERT_EQ(o.status, 0) << o.reason;
  EXPECT_EQ(o.of_type('S'), std::vector<std::string>{"joe.public@example.org"});
  EXPECT_EQ(o.of_type('R'), (std::vector<std::string>{"ann@example.net", "bob@example.net"}));
  EXPECT_EQ(o.of_type('O'), (std::vector<std::string>{"team", "team"}));
  EXPECT_TRUE(o.has_line_starting("From: joe.public@example.org"));
  auto attrs = o.of_type('A');
  EXPECT_NE(std::find(attrs.begin(), attrs.end(), "dsn_orig_rcpt=rfc822;team@example.org"),
            attrs.end());
}

TEST_F(MessageTest, VirtualLimitDefersTheMessage) {
  set_table(tables.virtual_alias, "virtual_alias_maps",
            "inline:{ {team@example.org = a@x, b@x, c@x} }");
  settings.virtual_limits.expansion = 2;
  Out o = run(message({"team"}, {"Received: by x", "", "b"}));
  EXPECT_TRUE(o.status & kCleanupStatDefer);
}

TEST_F(MessageTest, BccRecipients) {
  settings.always_bcc = "audit@example.net";
  set_table(tables.sender_bcc, "sender_bcc_maps", "inline:{ {joe@example.org = boss@example.net} }");
  set_table(tables.recipient_bcc, "recipient_bcc_maps",
            "inline:{ {ann@example.org = ann-copy@example.net} }");
  Out o = run(message({"ann"}, {"Received: by x", "", "b"}));
  ASSERT_EQ(o.status, 0);
  EXPECT_EQ(o.of_type('R'), (std::vector<std::string>{"boss@example.net", "ann@example.org",
                                                      "ann-copy@example.net", "audit@example.net"}));
  flags = kCleanupFlagFilter | kCleanupFlagMapOk;  // no BCC_OK
  EXPECT_EQ(run(message({"ann"}, {"Received: by x", "", "b"})).of_type('R').size(), 1u);
}

TEST_F(MessageTest, Masquerading) {
  settings.masquerade.domains = {"example.org"};
  Out o = run(message({"ann@host.example.org"},
                      {"Received: by x", "From: joe@host.example.org", "", "b"}, "local",
                      "joe@host.example.org"));
  EXPECT_EQ(o.of_type('S'), std::vector<std::string>{"joe@example.org"});
  // envelope_recipient is not in the default masquerade_classes.
  EXPECT_EQ(o.of_type('R'), std::vector<std::string>{"ann@host.example.org"});
  EXPECT_TRUE(o.has_line_starting("From: joe@example.org"));
}

TEST_F(MessageTest, SizeAndHopLimits) {
  settings.message_size_limit = 20;
  EXPECT_EQ(run(message({"ann"}, {"Received: by x", "", "a long body line here"})).status,
            kCleanupStatSize);
  settings.message_size_limit = 0;
  settings.hopcount_limit = 2;
  EXPECT_EQ(run(message({"ann"}, {"Received: 1", "Received: 2", "Received: 3", "", "b"})).status,
            kCleanupStatHops);
}

TEST_F(MessageTest, DelayWarningTimeWritesAWRecordBeforeTheRecipients) {
  settings.delay_warning_time = 3600;
  Out o = run(message({"ann", "bob"}, {"Received: by x", "", "b"}));
  ASSERT_EQ(o.status, 0);
  EXPECT_EQ(o.of_type('W'), std::vector<std::string>{fmt::format("{:>15}", 1700000000 + 3600)});
  std::string types;
  for (const auto& r : o.records) types += static_cast<char>(r.type);
  EXPECT_LT(types.find('W'), types.find('R'));
}

TEST_F(MessageTest, SizeLimitCountsTheWholeQueueFile) {
  settings.message_size_limit = 500;  // a small message is about 400 bytes
  EXPECT_EQ(run(message({"ann"}, {"Received: by x", "", "short"})).status, 0);
  EXPECT_EQ(run(message({"ann"}, {"Received: by x", "", std::string(200, 'b')})).status,
            kCleanupStatSize);
}

TEST_F(MessageTest, ContentFilterAndHoldFlag) {
  settings.content_filter = "scan:[127.0.0.1]:10026";
  flags |= kCleanupFlagHold;
  Out o = run(message({"ann"}, {"Received: by x", "", "b"}));
  EXPECT_EQ(o.of_type('L'), std::vector<std::string>{"scan:[127.0.0.1]:10026"});
  EXPECT_TRUE(o.hold);
}

TEST_F(MessageTest, ExtractedRecipientsAndLongLines) {
  std::string longline(5000, 'x');
  auto recs = message({}, {"Received: by x", "", longline});
  recs.insert(recs.end() - 1, {'R', "bob"});
  Out o = run(recs);
  ASSERT_EQ(o.status, 0);
  EXPECT_EQ(o.of_type('R'), std::vector<std::string>{"bob@example.org"});
  EXPECT_EQ(o.of_type('L').size(), 2u);  // 2048 + 2048 + N 904
}

}  // namespace
}  // namespace postern::cleanup

namespace postern::cleanup {
namespace {
// smtpd reports a HOLD or DISCARD access action with an 'f' record in the
// envelope; cleanup honours those two bits and does not store the record.
TEST_F(MessageTest, FlagsRecordFromTheClientCanHoldOrDiscard) {
  auto recs = message({"ann"}, {"Received: by x", "", "b"});
  recs.insert(recs.begin() + 2, {'f', std::to_string(kCleanupFlagHold)});
  Out held = run(recs);
  ASSERT_EQ(held.status, 0);
  EXPECT_TRUE(held.hold);
  EXPECT_FALSE(held.discard);
  EXPECT_TRUE(held.of_type('f').empty());
  recs[2] = {'f', std::to_string(kCleanupFlagDiscard | kCleanupFlagBounce)};
  Out dropped = run(recs);
  EXPECT_TRUE(dropped.discard);
  EXPECT_FALSE(run(message({"ann"}, {"Received: by x", "", "b"})).hold);
}
}  // namespace
}  // namespace postern::cleanup
