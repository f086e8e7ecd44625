#include <gtest/gtest.h>

#include <algorithm>

#include "bounce/ndr.h"

namespace postern::bounce {
namespace {

bool has(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

TEST(Ndr2, RemoteMtaAndWillRetryUntil) {
  auto recs = parse_status_log(
      "recipient=x@d.test\noffset=10\nstatus=4.4.1\naction=delayed\ndiag_type=smtp\n"
      "diag_text=421 busy\nmta_type=dns\nmta_mname=mx.d.test\nreason=host said 421\n\n");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].mtype, "dns");
  EXPECT_EQ(recs[0].mname, "mx.d.test");
  NdrInfo in;
  in.myhostname = "mx.test";
  in.boundary = "B";
  in.delay = true;
  in.retry_until = "Sat, 28 Nov 2026 16:59:22 +0000 (UTC)";
  auto head = ndr_head(in, recs);
  auto at = std::find(head.begin(), head.end(), "Status: 4.4.1");
  ASSERT_NE(at, head.end());
  // Postfix's order: Status, Remote-MTA, Diagnostic-Code, Will-Retry-Until.
  EXPECT_EQ(*(at + 1), "Remote-MTA: dns; mx.d.test");
  EXPECT_EQ(*(at + 2), "Diagnostic-Code: smtp; 421 busy");
  EXPECT_EQ(*(at + 3), "Will-Retry-Until: Sat, 28 Nov 2026 16:59:22 +0000 (UTC)");
  in.delay = false;
  EXPECT_FALSE(has(ndr_head(in, recs), "Will-Retry-Until: Sat, 28 Nov 2026 16:59:22 +0000 (UTC)"));
}

TEST(Ndr2, PostmasterCopyHasOnlyTheRecipients) {
  LogRecord r;
  r.recipient = "x@d.test";
  r.status = "5.1.1";
  r.reason = "gone";
  NdrInfo in;
  in.myhostname = "mx.test";
  in.boundary = "B";
  in.postmaster_copy = true;
  in.text = {"template text"};
  in.subject = "Postmaster Copy: Undelivered Mail";
  auto head = ndr_head(in, {r});
  EXPECT_FALSE(has(head, "template text"));
  EXPECT_TRUE(has(head, "Auto-Submitted: auto-generated"));
  auto part = std::find(head.begin(), head.end(), "Content-Description: Notification");
  ASSERT_NE(part, head.end());
  auto at = std::find(part, head.end(), "Content-Transfer-Encoding: 8bit");
  ASSERT_NE(at, head.end());
  EXPECT_EQ(*(at + 1), "");
  EXPECT_EQ(*(at + 2), "");
  EXPECT_EQ(*(at + 3), "<x@d.test>: gone");
}

}  // namespace
}  // namespace postern::bounce
