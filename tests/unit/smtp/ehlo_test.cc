#include "smtp/ehlo.h"

#include <gtest/gtest.h>

using namespace postern::smtp;

TEST(Ehlo, Features) {
  auto r = parse_reply({"250-mx.example.com Hello", "250-PIPELINING", "250-SIZE 10240000",
                        "250-STARTTLS", "250-AUTH PLAIN LOGIN", "250-AUTH=PLAIN LOGIN",
                        "250-8BITMIME", "250-DSN", "250-SMTPUTF8",
                        "250 XFORWARD NAME ADDR PROTO HELO SOURCE"});
  ASSERT_TRUE(r);
  Features f = parse_features(*r, true);
  EXPECT_EQ(f.name, "mx.example.com");
  EXPECT_TRUE(f.pipelining);
  EXPECT_TRUE(f.starttls);
  EXPECT_TRUE(f.eightbit);
  EXPECT_TRUE(f.dsn);
  EXPECT_TRUE(f.smtputf8);
  EXPECT_EQ(f.size, 10240000);
  ASSERT_GE(f.auth.size(), 2u);
  EXPECT_EQ(f.auth[0], "PLAIN");
  EXPECT_EQ(f.auth[1], "LOGIN");
  EXPECT_EQ(f.xforward.size(), 5u);
}

TEST(Ehlo, SizeWithoutLimitAndHeloHasNoFeatures) {
  auto r = parse_reply({"250-x", "250 SIZE"});
  ASSERT_TRUE(r);
  EXPECT_EQ(parse_features(*r, true).size, 0);
  auto h = parse_reply({"250 x"});
  ASSERT_TRUE(h);
  Features f = parse_features(*h, false);
  EXPECT_FALSE(f.esmtp);
  EXPECT_EQ(f.size, -1);
  EXPECT_FALSE(f.pipelining);
}
