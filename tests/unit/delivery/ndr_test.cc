#include "bounce/ndr.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "global/deliver_status.h"
#include "global/dsn.h"

namespace postern::bounce {
namespace {

bool has(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

TEST(StatusLog, ParsesWhatAgentsWrite) {
  DsnResult a;
  a.status = "5.1.1";
  a.action = "failed";
  a.reason = "unknown user: \"x\"";
  DsnResult b;
  b.status = "4.4.1";
  b.action = "delayed";
  b.reason = "connect to host: Connection refused";
  b.dtype = "smtp";
  b.dtext = "421 busy";
  std::string text =
      format_status_record({"X@d.test", "x@d.test", 120, "rfc822;X@d.test", 8}, a) +
      format_status_record({"", "y@d.test", 240, "", 0}, b) + "junk line without equals\n";
  auto recs = parse_status_log(text);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].recipient, "x@d.test");
  EXPECT_EQ(recs[0].orig, "X@d.test");
  EXPECT_EQ(recs[0].dsn_orcpt, "rfc822;X@d.test");
  EXPECT_EQ(recs[0].offset, 120);
  EXPECT_EQ(recs[0].status, "5.1.1");
  EXPECT_EQ(recs[0].reason, "unknown user: \"x\"");
  EXPECT_EQ(recs[1].action, "delayed");
  EXPECT_EQ(recs[1].dtype, "smtp");
  EXPECT_EQ(recs[1].dtext, "421 busy");
  EXPECT_TRUE(parse_status_log("").empty());
}

TEST(Ndr, MultipartReportStructure) {
  NdrInfo in;
  in.myhostname = "mx.test";
  in.mail_name = "Postfix";
  in.queue_id = "ABC";
  in.new_id = "DEF";
  in.sender = "a@b.test";
  in.arrival_date = "Mon, 23 Nov 2026 10:00:00 +0000 (UTC)";
  in.date = "Mon, 23 Nov 2026 10:05:00 +0000 (UTC)";
  in.boundary = "ABC.1/mx.test";
  LogRecord r;
  r.recipient = "x@d.test";
  r.dsn_orcpt = "rfc822;X@d.test";
  r.status = "5.1.1";
  r.reason = "unknown user";
  auto head = ndr_head(in, {r});
  EXPECT_EQ(head[0], "Received: by mx.test (Postfix)");
  EXPECT_EQ(head[1], "\tid DEF; Mon, 23 Nov 2026 10:05:00 +0000 (UTC)");
  EXPECT_TRUE(has(head, "Subject: Undelivered Mail Returned to Sender"));
  EXPECT_TRUE(has(head, "To: a@b.test"));
  EXPECT_TRUE(has(head, "\tboundary=\"ABC.1/mx.test\""));
  EXPECT_TRUE(has(head, "<x@d.test>: unknown user"));
  EXPECT_TRUE(has(head, "Final-Recipient: rfc822; x@d.test"));
  EXPECT_TRUE(has(head, "Original-Recipient: rfc822;X@d.test"));
  EXPECT_TRUE(has(head, "Action: failed"));
  EXPECT_TRUE(has(head, "Status: 5.1.1"));
  EXPECT_TRUE(has(head, "Diagnostic-Code: X-Postfix; unknown user"));
  EXPECT_TRUE(has(head, "Content-Type: message/rfc822"));
  EXPECT_EQ(head.back(), "");
  // Three parts open with the boundary; the tail closes it.
  EXPECT_EQ(std::count(head.begin(), head.end(), "--ABC.1/mx.test"), 3);
  auto tail = ndr_tail(in);
  EXPECT_EQ(tail.back(), "--ABC.1/mx.test--");

  in.delay = true;
  auto delay = ndr_head(in, {r});
  EXPECT_TRUE(has(delay, "Subject: Delayed Mail (still being retried)"));
  EXPECT_TRUE(has(delay, "Action: delayed"));
  EXPECT_TRUE(has(delay, "Content-Type: text/rfc822-headers"));
}

}  // namespace
}  // namespace postern::bounce

namespace postern::bounce {
namespace {

TEST(Ndr, NotifyFlagsSelectRecipients) {
  LogRecord plain, never, success, failure;
  never.notify_flags = kDsnNotifyNever;
  success.notify_flags = kDsnNotifySuccess;
  failure.notify_flags = kDsnNotifyFailure | kDsnNotifyDelay;
  EXPECT_TRUE(wants_notice(plain, kDsnNotifyFailure));
  EXPECT_TRUE(wants_notice(plain, kDsnNotifyDelay));
  EXPECT_FALSE(wants_notice(plain, kDsnNotifySuccess));
  EXPECT_FALSE(wants_notice(never, kDsnNotifyFailure));
  EXPECT_FALSE(wants_notice(never, kDsnNotifyDelay));
  EXPECT_TRUE(wants_notice(success, kDsnNotifySuccess));
  EXPECT_FALSE(wants_notice(success, kDsnNotifyFailure));
  EXPECT_TRUE(wants_notice(failure, kDsnNotifyFailure));
  EXPECT_TRUE(wants_notice(failure, kDsnNotifyDelay));
  EXPECT_FALSE(wants_notice(failure, kDsnNotifySuccess));
}

}  // namespace
}  // namespace postern::bounce
