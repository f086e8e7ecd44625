#include "global/showq_format.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include "global/showq_scan.h"

using namespace postern;

namespace {

class ShowqFormat : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

ShowqMessage sample() {
  ShowqMessage m;
  m.queue_name = "deferred";
  m.queue_id = "B0B36A78124";
  m.arrival_time = 1700000000;  // Tue Nov 14 22:13:20 2023 UTC
  m.size = 41;
  m.sender = "alice@example.com";
  m.recipients = {{"bob@remote.test", "connect to remote.test[1.2.3.4]:25: Connection refused"},
                  {"carol@remote.test", "connect to remote.test[1.2.3.4]:25: Connection refused"},
                  {"dave@other.test", ""}};
  return m;
}

TEST_F(ShowqFormat, MailqLayoutMatchesPostfix) {
  MailqPrinter p;
  std::string out;
  p.add(sample(), out);
  p.finish(out);
  EXPECT_EQ(out,
            "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
            "B0B36A78124      41 Tue Nov 14 22:13:20  alice@example.com\n"
            "                      (connect to remote.test[1.2.3.4]:25: Connection refused)\n"
            "                                         bob@remote.test\n"
            "                                         carol@remote.test\n"
            "                                                          (reason unavailable)\n"
            "                                         dave@other.test\n"
            "\n"
            "-- 0 Kbytes in 1 Request.\n");
}

TEST_F(ShowqFormat, MarkersAndTotals) {
  MailqPrinter p;
  std::string out;
  ShowqMessage a = sample();
  a.queue_name = "active";
  a.forced_expire = true;
  a.recipients = {{"u@v.test", ""}};
  a.size = 2000;
  ShowqMessage h = a;
  h.queue_name = "hold";
  h.forced_expire = false;
  h.queue_id = "C0000A1";
  p.add(a, out);
  p.add(h, out);
  p.finish(out);
  EXPECT_NE(out.find("\nB0B36A78124*#    2000 Tue Nov 14 22:13:20  alice@example.com\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\nC0000A1!       2000 "), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("\n\n-- 3 Kbytes in 2 Requests.\n")) << out;
}

TEST_F(ShowqFormat, EmptyQueue) {
  MailqPrinter p;
  std::string out;
  p.finish(out);
  EXPECT_EQ(out, "Mail queue is empty\n");
}

TEST_F(ShowqFormat, LongIdLayout) {
  MailqPrinter p;
  std::string out;
  ShowqMessage m = sample();
  m.queue_id = "4jXwtN5YLSz1bc8s";
  m.recipients = {{"x@y", ""}};
  p.add(m, out);
  EXPECT_EQ(out,
            "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n"
            "4jXwtN5YLSz1bc8s        41 Tue Nov 14 22:13:20 alice@example.com\n"
            "                                               x@y\n");
}

TEST_F(ShowqFormat, LongReasonIsNotPadded) {
  MailqPrinter p;
  std::string out;
  ShowqMessage m = sample();
  std::string why(90, 'x');
  m.recipients = {{"a@b", why}};
  p.add(m, out);
  EXPECT_NE(out.find("\n(" + why + ")\n"), std::string::npos) << out;
}

TEST(ShowqJson, FieldsInPostfixOrder) {
  ShowqMessage m = sample();
  m.recipients.resize(1);
  EXPECT_EQ(showq_json_line(m),
            "{\"queue_name\": \"deferred\", \"queue_id\": \"B0B36A78124\", \"arrival_time\": "
            "1700000000, \"message_size\": 41, \"forced_expire\": false, \"sender\": "
            "\"alice@example.com\", \"recipients\": [{\"address\": \"bob@remote.test\", "
            "\"delay_reason\": \"connect to remote.test[1.2.3.4]:25: Connection refused\"}]}\n");
}

TEST(ShowqJson, Escapes) {
  EXPECT_EQ(json_escape("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(json_escape("\b\f\n\r\t"), "\\b\\f\\n\\r\\t");
  EXPECT_EQ(json_escape(std::string("\x01\x1f\x7f", 3)), "\\u0001\\u001F\\u007F");
  EXPECT_EQ(json_escape("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(ShowqProtocol, EncodeDecodeRoundTrip) {
  ShowqMessage m = sample();
  m.forced_expire = true;
  auto back = showq_decode(showq_encode(m));
  ASSERT_TRUE(back) << back.error().text;
  EXPECT_EQ(back->queue_id, m.queue_id);
  EXPECT_EQ(back->arrival_time, m.arrival_time);
  EXPECT_TRUE(back->forced_expire);
  ASSERT_EQ(back->recipients.size(), 3u);
  EXPECT_EQ(back->recipients[1].reason, m.recipients[1].reason);
  EXPECT_EQ(back->recipients[2].reason, "");
  EXPECT_FALSE(showq_decode(AttrList{{"queue_name", "x"}}));
}

TEST(DeferLog, ReasonsPerRecipient) {
  auto r = parse_defer_log(
      "\n<a@b>: legacy text\nrecipient=a@b\noffset=100\nstatus=4.4.1\naction=delayed\n"
      "reason=connect to b[1.2.3.4]:25: Connection refused\n\n"
      "\nrecipient=c@d\nreason=host said: 450 x=y\n\n"
      "\nrecipient=a@b\nreason=later text\n\n");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], std::make_pair(std::string("a@b"),
                                 std::string("connect to b[1.2.3.4]:25: Connection refused")));
  EXPECT_EQ(r[1], std::make_pair(std::string("c@d"), std::string("host said: 450 x=y")));
}

}  // namespace
