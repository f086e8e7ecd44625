#include "global/deliver_status.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "util/stream.h"

namespace postern {
namespace {

TEST(FormatDelay, TwoSignificantDigitsAtMostTwoDecimals) {
  EXPECT_EQ(format_delay(0), "0");
  EXPECT_EQ(format_delay(1000), "0");          // 0.001 s
  EXPECT_EQ(format_delay(10000), "0.01");
  EXPECT_EQ(format_delay(23456), "0.02");
  EXPECT_EQ(format_delay(120000), "0.12");
  EXPECT_EQ(format_delay(100000), "0.1");
  EXPECT_EQ(format_delay(4120000), "4.1");
  EXPECT_EQ(format_delay(4000000), "4");
  EXPECT_EQ(format_delay(90400000), "90");
  EXPECT_EQ(format_delay(305700000), "305");
  EXPECT_EQ(format_delay(-5), "0");
}

TEST(StatusRecord, HasPostfixFields) {
  DeliverRecipient r{"Bob@demo.test", "bob@demo.test", 321, "rfc822;Bob@demo.test", 0};
  DsnResult d;
  d.status = "4.2.0";
  d.action = "delayed";
  d.reason = "maildir delivery failed: Permission denied";
  EXPECT_EQ(format_status_record(r, d),
            "recipient=bob@demo.test\n"
            "original_recipient=Bob@demo.test\n"
            "offset=321\n"
            "dsn_orig_rcpt=rfc822;Bob@demo.test\n"
            "status=4.2.0\n"
            "action=delayed\n"
            "reason=maildir delivery failed: Permission denied\n\n");
}

TEST(StatusReporter, LogLineAndDeferLog) {
  char tmpl[] = "/tmp/deliver_status_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/defer");
  std::filesystem::create_directories(dir + "/bounce");
  MailQueue q(MailQueue::Settings{dir, {"deferred", "defer"}, 1, false});
  DeliverRequest req;
  req.queue_id = "ABC123";
  req.arrival_us = 1000000;
  req.active_us = 1500000;
  req.handoff_us = 1500000;
  StatusReporter st(req, -1, q, "virtual", false);
  DeliverRecipient r{"", "x@demo.test", 77, "", 0};
  DsnResult d;
  d.status = "2.0.0";
  d.reason = "delivered to maildir";
  std::string line = st.log_line(r, "sent", d, 3020000);
  EXPECT_EQ(line,
            "ABC123: to=<x@demo.test>, relay=virtual, delay=2, delays=0.5/0/0/1.5, dsn=2.0.0, "
            "status=sent (delivered to maildir)");

  DsnResult f;
  f.status = "4.2.0";
  f.reason = "no way";
  st.defer(r, f);
  auto text = read_file(q.path("defer", "ABC123"));
  ASSERT_TRUE(text) << text.error().text;
  EXPECT_NE(text->find("recipient=x@demo.test\n"), std::string::npos);
  EXPECT_NE(text->find("action=delayed\n"), std::string::npos);
  EXPECT_NE(text->find("reason=no way\n"), std::string::npos);
  ASSERT_EQ(st.reply().outcomes.size(), 1u);
  EXPECT_EQ(st.reply().outcomes[0].second, RcptOutcome::kDeferred);
  EXPECT_EQ(st.reply().status, 0);

  // soft_bounce: a bounce becomes a deferral with a 4.x.x status.
  StatusReporter soft(req, -1, q, "virtual", true);
  DsnResult b;
  b.status = "5.1.1";
  b.reason = "unknown user";
  soft.bounce(r, b);
  EXPECT_EQ(soft.reply().outcomes[0].second, RcptOutcome::kDeferred);
  EXPECT_FALSE(std::filesystem::exists(q.path("bounce", "ABC123")));
  auto again = read_file(q.path("defer", "ABC123"));
  EXPECT_NE(again->find("status=4.1.1\n"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace postern
