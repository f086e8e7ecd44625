// Regression tests for src/global/rfc822_address.cc found by the cleanup
// fuzz target (kept here: tests/unit/global belongs to another area).
#include "global/rfc822_address.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(Rfc822AddressRegression, StrayClosingParenthesisEnds) {
  // Used to loop forever, adding empty tokens until memory ran out.
  auto a = parse_header_addresses(" )\xff Resent-From: z");
  EXPECT_FALSE(a.empty());
  auto b = parse_header_addresses("x) <ann@example.com>");
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b.back().address, "ann@example.com");
  EXPECT_EQ(rewrite_header_addresses(")", [](const std::string& s) { return s; }), ")");
}

}  // namespace
}  // namespace postern
