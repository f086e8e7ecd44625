// regexp, pcre and cidr tables: syntax, flags, if/endif, substitution,
// rule order and bad rules.
#include "maps/pattern_table.h"
#include "test_util.h"

namespace postern::maps::testing {
namespace {

class PatternTest : public ::testing::TestWithParam<std::string> {
 protected:
  MapPtr table(const std::string& text) {
    return must_open(GetParam() + ":" + dir_.write("table", text));
  }
  ScratchDir dir_;
};

TEST_P(PatternTest, FirstMatchWinsAndCaseIsIgnoredByDefault) {
  auto m = table("/^(a+)b$/ got $1\n/^a/ second\n/^Sub/i subject\n");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->is_pattern());
  EXPECT_EQ(q(*m, "aab"), "got aa");
  EXPECT_EQ(q(*m, "AAB"), "got AA");  // case kept in the substitution
  EXPECT_EQ(q(*m, "abc"), "second");
  EXPECT_EQ(q(*m, "Subject"), "subject");
  EXPECT_EQ(q(*m, "subject"), "<not found>");  // the i flag made it case-sensitive
}

TEST_P(PatternTest, NegationIfEndifAndNesting) {
  auto m = table("if /^x/\nif !/z/\n/y$/ x-y-no-z\nendif\n/y$/ x-y\nendif\n!/^q/ not-q\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(q(*m, "xay"), "x-y-no-z");
  EXPECT_EQ(q(*m, "xzy"), "x-y");
  EXPECT_EQ(q(*m, "ay"), "not-q");
  EXPECT_EQ(q(*m, "qy"), "<not found>");
}

TEST_P(PatternTest, SubstitutionForms) {
  auto m = table("/^(a)(b)?(c)$/ [$1][${2}][$(3)] $$ cost\n/^(x)(y)/ ${1}${2}z\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(q(*m, "abc"), "[a][b][c] $ cost");
  EXPECT_EQ(q(*m, "ac"), "[a][][c] $ cost");  // group 2 did not take part
  EXPECT_EQ(q(*m, "xyq"), "xyz");
}

TEST_P(PatternTest, ContinuationLinesJoinTheResult) {
  auto m = table("/^Content-Type:.*name=\"?(.+\\.(exe|bat))\"?$/\n    REJECT Attachment type not allowed: $2\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(q(*m, "Content-Type: application/x; name=\"a.exe\""),
            "REJECT Attachment type not allowed: exe");
}

TEST_P(PatternTest, OtherDelimitersAndEscapedDelimiter) {
  auto m = table("%^a/b$% slash\n/^c\\/d$/ escaped\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(q(*m, "a/b"), "slash");
  EXPECT_EQ(q(*m, "c/d"), "escaped");
}

TEST_P(PatternTest, BadRulesAreSkippedOthersStillWork) {
  auto m = table("/(/ bad\n/abc/q unknown-flag\n/x/ $1 out-of-range\n!/(n)/ $1 negative\n"
                 "/unclosed ok\n/z/ ${1\n/good/ yes\nendif\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(q(*m, "abc"), "<not found>");
  EXPECT_EQ(q(*m, "x"), "<not found>");
  EXPECT_EQ(q(*m, "good"), "yes");
  EXPECT_EQ(q(*m, "("), "<not found>");
}

TEST_P(PatternTest, MissingFile) {
  auto m = open_map(GetParam() + ":" + dir_.path() + "/missing");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::kNotFound);
  EXPECT_EQ(m.error().text, "open " + dir_.path() + "/missing: No such file or directory");
}

TEST_P(PatternTest, SequenceIsNotSupported) {
  auto m = table("/a/ b\n");
  auto s = m->sequence([](std::string_view, std::string_view) { return true; });
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().text.find("sequence operation is not supported"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Flavours, PatternTest, ::testing::Values("regexp", "pcre"));

TEST(PcreFlags, MultilineDotallExtendedUngreedy) {
  ScratchDir dir;
  auto m = must_open("pcre:" + dir.write("t", "/^b$/m multi\n/a.c/s dotall\n/x  y/x extended\n/<(.+)>/U <$1>\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(q(*m, "a\nb"), "multi");
  EXPECT_EQ(q(*m, "a\nc"), "dotall");
  EXPECT_EQ(q(*m, "xy"), "extended");
  EXPECT_EQ(q(*m, "<p><q>"), "<p>");
}

TEST(RegexpFlags, NewlineSensitive) {
  ScratchDir dir;
  auto m = must_open("regexp:" + dir.write("t", "/^b$/m multi\n"));
  EXPECT_EQ(q(*m, "a\nb"), "multi");
  auto plain = must_open("regexp:" + dir.write("u", "/^b$/ plain\n"));
  EXPECT_EQ(q(*plain, "a\nb"), "<not found>");
}

TEST(Replacement, Parsing) {
  Replacement r;
  std::string global, local;
  EXPECT_TRUE(parse_replacement("a $1 ${2} $(3) $$", r, global, local));
  EXPECT_EQ(r.max_group, 3);
  EXPECT_FALSE(parse_replacement("$foo", r, global, local));
  EXPECT_EQ(local, "non-numeric replacement index \"foo\"");
  local.clear();
  EXPECT_FALSE(parse_replacement("x $", r, global, local));
  EXPECT_EQ(global, "empty macro name: \"x $\"");
}

class CidrTest : public ::testing::Test {
 protected:
  MapPtr table(const std::string& text) { return must_open("cidr:" + dir_.write("cidr", text)); }
  ScratchDir dir_;
};

TEST_F(CidrTest, FirstMatchInFileOrder) {
  auto m = table("192.168.1.0/24 net24\n192.168.0.0/16 net16\n192.168.1.5 never\n10.0.0.1 host\n"
                 "2001:db8::/32 v6net\n[2001:db8::1]/128 v6host\n0.0.0.0/0 all-v4\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(q(*m, "192.168.1.5"), "net24");
  EXPECT_EQ(q(*m, "192.168.2.1"), "net16");
  EXPECT_EQ(q(*m, "10.0.0.1"), "host");
  EXPECT_EQ(q(*m, "10.0.0.2"), "all-v4");
  EXPECT_EQ(q(*m, "2001:db8::1"), "v6net");  // the /32 comes first
  EXPECT_EQ(q(*m, "2001:db9::1"), "<not found>");
  EXPECT_EQ(q(*m, "not-an-address"), "<not found>");
}

TEST_F(CidrTest, NegationNeverMatchesOtherFamily) {
  auto m = table("!192.168.0.0/16 outside\n");
  EXPECT_EQ(q(*m, "8.8.8.8"), "outside");
  EXPECT_EQ(q(*m, "192.168.3.3"), "<not found>");
  EXPECT_EQ(q(*m, "::1"), "<not found>");
}

TEST_F(CidrTest, IfEndifAndBadRules) {
  auto m = table("if 10.0.0.0/8\n10.1.0.0/16 inner\nendif\n1.2.3.4/33 bad-mask\n10.1.2.3/8 host-bits\n"
                 "junk bad-address\n10.1.0.0/16 outer\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(q(*m, "10.1.2.3"), "inner");
  EXPECT_EQ(q(*m, "1.2.3.4"), "<not found>");
}

}  // namespace
}  // namespace postern::maps::testing
