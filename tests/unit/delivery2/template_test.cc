#include "bounce/template.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "global/deliver_mailbox.h"

namespace postern::bounce {
namespace {

Config test_config() {
  Config c;
  c.set_override("myhostname", "mx.example.test");
  c.set_override("delay_warning_time", "150m");
  c.set_override("maximal_queue_lifetime", "3d");
  return c;
}

TEST(BounceTemplate, DefaultsHaveHeadersAndVariables) {
  auto t = default_templates();
  EXPECT_EQ(t.failure.name, "failure_template");
  EXPECT_EQ(t.failure.subject, "Undelivered Mail Returned to Sender");
  EXPECT_EQ(t.failure.postmaster_subject, "Postmaster Copy: Undelivered Mail");
  EXPECT_EQ(t.delay.postmaster_subject, "Postmaster Warning: Delayed Mail");
  EXPECT_EQ(t.success.postmaster_subject, "");
  EXPECT_EQ(t.verify.subject, "Mail Delivery Status Report");
  EXPECT_EQ(t.failure.from, "Mail Delivery System <MAILER-DAEMON>");
  std::vector<std::string> warnings;
  auto text = expand_text(t.delay, test_config(), &warnings);
  ASSERT_TRUE(text);
  EXPECT_EQ((*text)[0], "This is the mail system at host mx.example.test.");
  std::string all;
  for (const auto& l : *text) all += l + "\n";
  EXPECT_NE(all.find("more than 2 hour(s)"), std::string::npos) << all;
  EXPECT_NE(all.find("3 day(s) old"), std::string::npos) << all;
  EXPECT_TRUE(warnings.empty());
}

TEST(BounceTemplate, ParsesPostfixFormat) {
  std::vector<std::string> warnings;
  auto t = parse_templates(
      "# comment\n\n   \n"
      "delay_template = <<END\n"
      "SUBJECT: late\n"
      "charset: utf-8\n"
      "\n"
      "  indented $$ ${myhostname} $(delay_warning_time_minutes)\n"
      "\\no escapes\n"
      "\n"
      "END\n"
      "bogus_template = <<EOF\nx\nEOF\n"
      "success_template = <<EOF\nX-Header: y\n\ntext\nEOF\n",
      "bounce.cf", &warnings);
  ASSERT_TRUE(t) << t.error().text;
  EXPECT_EQ(t->delay.subject, "late");
  EXPECT_EQ(t->delay.charset, "utf-8");
  EXPECT_EQ(t->delay.postmaster_subject, "Postmaster Warning: Delayed Mail");
  ASSERT_EQ(t->delay.text.size(), 2u);  // trailing empty lines dropped
  std::vector<std::string> w2;
  auto text = expand_text(t->delay, test_config(), &w2);
  ASSERT_TRUE(text);
  EXPECT_EQ((*text)[0], "  indented $ mx.example.test 150");
  EXPECT_EQ((*text)[1], "\\no escapes");
  // The unknown template and the unknown header are ignored, with warnings.
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("unknown template name: bogus_template"), std::string::npos);
  EXPECT_NE(warnings[1].find("unknown \"X-Header\" header label in success template"), std::string::npos);
  EXPECT_EQ(t->success.subject, default_templates().success.subject);
}

TEST(BounceTemplate, Errors) {
  std::vector<std::string> warnings;
  EXPECT_FALSE(parse_templates("failure_template = <<EOF\nno end\n", "f", &warnings));
  EXPECT_FALSE(parse_templates("just a line\n", "f", &warnings));
  auto t = parse_templates("failure_template = <<EOF\n$no_such_param_xyz\nEOF\n", "f", &warnings);
  ASSERT_TRUE(t);
  auto text = expand_text(t->failure, test_config(), &warnings);
  ASSERT_FALSE(text);
  EXPECT_NE(text.error().text.find("undefined $name in failure template"), std::string::npos);
  // Zero after conversion: a warning, the value 0.
  auto z = parse_templates("failure_template = <<EOF\n$delay_warning_time_weeks\nEOF\n", "f", &warnings);
  ASSERT_TRUE(z);
  std::vector<std::string> w;
  auto zt = expand_text(z->failure, test_config(), &w);
  ASSERT_TRUE(zt);
  EXPECT_EQ((*zt)[0], "0");
  EXPECT_EQ(w.size(), 1u);
}

TEST(BounceTemplate, FormatsAsPostconfDoes) {
  auto t = default_templates();
  std::string s = format_template(t.success);
  EXPECT_EQ(s.rfind("success_template = <<EOF\nCharset: us-ascii\nFrom: Mail Delivery System "
                    "<MAILER-DAEMON>\nSubject: Successful Mail Delivery Report\n\n", 0),
            0u)
      << s;
  EXPECT_TRUE(s.ends_with("\n                   The mail system\nEOF\n"));
  EXPECT_EQ(format_expanded(t.verify, {"a", "b"}), "expanded_verify_text = <<EOF\na\nb\nEOF\n");
}

TEST(MailboxStatus, FullDiskDefersFullMailboxBounces) {
  Error disk{Errc::kNoSpace, std::string("write x: ") + std::strerror(ENOSPC)};
  Error quota{Errc::kNoSpace, std::string("write x: ") + std::strerror(EDQUOT)};
  Error limit{Errc::kNoSpace, "error writing message: File too large"};
  Error other{Errc::kIo, "create maildir file: Permission denied"};
  EXPECT_EQ(mailbox_status(disk, "4.2.0"), "4.3.1");
  EXPECT_EQ(mailbox_status(quota, "4.2.0"), "5.2.2");
  EXPECT_EQ(mailbox_status(limit, "4.2.0"), "5.2.2");
  EXPECT_EQ(mailbox_status(other, "5.2.0"), "5.2.0");
}

}  // namespace
}  // namespace postern::bounce
