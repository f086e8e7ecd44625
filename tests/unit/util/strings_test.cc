#include "util/strings.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(Split, DropsEmptyPiecesAndUsesListSeparators) {
  auto parts = split(" a, b\tc ,,d\n");
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0], "a");
  EXPECT_EQ(parts[3], "d");
  EXPECT_TRUE(split("").empty());
  EXPECT_TRUE(split(" ,, ").empty());
}

TEST(SplitBraced, KeepsGroupsWhole) {
  auto parts = split_braced("permit_mynetworks, { check_policy_service inet:1:2, timeout=5 }, reject");
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1], "check_policy_service inet:1:2, timeout=5");
  EXPECT_EQ(parts[2], "reject");
}

TEST(SplitBraced, UnterminatedGroupTakesTheRest) {
  auto parts = split_braced("a { b c");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[1], "b c");
}

TEST(Trim, BothEnds) {
  EXPECT_EQ(trim("  x y \t\n"), "x y");
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(trim_left("  x "), "x ");
  EXPECT_EQ(trim_right("  x "), "  x");
}

TEST(Case, FoldingAndComparison) {
  EXPECT_EQ(lowercase("MiXeD"), "mixed");
  EXPECT_TRUE(iequals("Example.COM", "example.com"));
  EXPECT_FALSE(iequals("a", "ab"));
  EXPECT_TRUE(istarts_with("HELO x", "helo"));
  EXPECT_TRUE(iends_with("mail.Example.com", ".EXAMPLE.COM"));
}

TEST(CollapseWhitespace, RunsBecomeOneSpace) {
  EXPECT_EQ(collapse_whitespace("  a   b\n\t c  "), "a b c");
  EXPECT_EQ(collapse_whitespace(""), "");
}

TEST(ParseLong, RejectsJunkAndOverflow) {
  EXPECT_EQ(parse_long("42"), 42);
  EXPECT_EQ(parse_long("-7"), -7);
  EXPECT_EQ(parse_long("+7"), 7);
  EXPECT_FALSE(parse_long("4x"));
  EXPECT_FALSE(parse_long(""));
  EXPECT_FALSE(parse_long("+"));
  EXPECT_FALSE(parse_long("99999999999999999999999"));
  EXPECT_FALSE(parse_ulong("-1"));
  EXPECT_EQ(parse_ulong("18"), 18u);
}

TEST(Printable, ReplacesControlsAndHighBytes) {
  EXPECT_EQ(printable(std::string("a\r\n\x01\xff" "b")), "a????b");
}

}  // namespace
}  // namespace postern

namespace postern {
namespace {
TEST(SplitKeepingBraces, BracesBelongToTheirToken) {
  auto v = split_keeping_braces("inline:{a=b, c=d}, hash:/x  {e f} g");
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0], "inline:{a=b, c=d}");
  EXPECT_EQ(v[1], "hash:/x");
  EXPECT_EQ(v[2], "{e f}");
  EXPECT_EQ(v[3], "g");
}

TEST(Strings, HexLowerEncodesEveryByte) {
  EXPECT_EQ(hex_lower(std::string_view("\x00\x01\xab\xff", 4)), "0001abff");
  EXPECT_EQ(hex_lower(""), "");
}

}  // namespace
}  // namespace postern
