#include <gtest/gtest.h>

#include "smtpd/smtpd_proto.h"

using namespace postern::smtpd;

TEST(SmtpdProto, SplitsVerbAndArguments) {
  Command c = split_command("mail FROM:<a@b>  SIZE=10\r");
  EXPECT_EQ(c.verb, "MAIL");
  EXPECT_EQ(c.args, "FROM:<a@b>  SIZE=10");
  EXPECT_EQ(split_command("  QUIT").verb, "QUIT");
  EXPECT_EQ(split_command("").verb, "");
}

TEST(SmtpdProto, ParsesBracketedPathWithParameters) {
  auto p = parse_path("<a@example.com> SIZE=100 BODY=8BITMIME", false);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->bad_syntax);
  EXPECT_EQ(p->address, "a@example.com");
  EXPECT_EQ(p->params, (std::vector<std::string>{"SIZE=100", "BODY=8BITMIME"}));
}

TEST(SmtpdProto, NullSenderAndSpaceAfterColon) {
  auto p = parse_path("<>", false);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->bad_syntax);
  EXPECT_EQ(p->address, "");
  p = parse_path(" test@example.com", false);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->address, "test@example.com");
  EXPECT_FALSE(p->bracketed);
}

TEST(SmtpdProto, StrictEnvelopesNeedBrackets) {
  auto p = parse_path("a@b", true);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->bad_syntax);
}

TEST(SmtpdProto, QuotedLocalPartIsInternalized) {
  auto p = parse_path("<\"quoted user\"@example.com>", false);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->bad_syntax);
  EXPECT_EQ(p->address, "quoted user@example.com");
}

TEST(SmtpdProto, SourceRouteIsDropped) {
  auto p = parse_path("<@a.example,@b.example:u@c.example>", false);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->address, "u@c.example");
}

TEST(SmtpdProto, BadAddresses) {
  for (const char* bad : {"<bad address>", "<a@b", "<a<b>@c>", "<a@b>junk", "<\"open@b>"}) {
    auto p = parse_path(bad, false);
    ASSERT_TRUE(p) << bad;
    EXPECT_TRUE(p->bad_syntax) << bad;
  }
  EXPECT_FALSE(parse_path("", false));
  EXPECT_FALSE(parse_path("   ", false));
}

TEST(SmtpdProto, NotifyValues) {
  EXPECT_EQ(parse_notify("NEVER"), 1);
  EXPECT_EQ(parse_notify("success,FAILURE"), 6);
  EXPECT_EQ(parse_notify("SUCCESS,DELAY"), 10);
  EXPECT_EQ(parse_notify("NEVER,SUCCESS"), 0);
  EXPECT_EQ(parse_notify("FOO"), 0);
}

TEST(SmtpdProto, Xtext) {
  EXPECT_EQ(xtext_decode("abc+2B1"), "abc+1");
  EXPECT_FALSE(xtext_decode("abc+2"));
  EXPECT_FALSE(xtext_decode("abc+zz"));
  EXPECT_FALSE(xtext_decode("a=b"));
  EXPECT_FALSE(xtext_decode("a b"));
}

TEST(SmtpdProto, SplitParam) {
  EXPECT_EQ(split_param("size=10"), (std::pair<std::string, std::string>{"SIZE", "10"}));
  EXPECT_EQ(split_param("SMTPUTF8"), (std::pair<std::string, std::string>{"SMTPUTF8", ""}));
}

// Arbitrary bytes never crash the parser (a poor man's fuzz run).
TEST(SmtpdProto, SurvivesArbitraryInput) {
  unsigned seed = 12345;
  for (int i = 0; i < 20000; i++) {
    std::string s;
    int n = static_cast<int>((seed = seed * 1103515245 + 12345) % 40);
    for (int k = 0; k < n; k++) {
      seed = seed * 1103515245 + 12345;
      s.push_back("<>@\"\\:, .aZ+=\r\n\t\0x"[(seed >> 16) % 21]);
    }
    Command c = split_command(s);
    auto p = parse_path(c.args, (i & 1) != 0);
    if (p)
      for (const auto& param : p->params) (void)split_param(param);
    (void)xtext_decode(s);
    (void)parse_notify(s);
  }
}
