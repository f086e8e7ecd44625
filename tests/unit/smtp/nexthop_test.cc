#include "smtp/nexthop.h"

#include <gtest/gtest.h>

using namespace postern::smtp;

TEST(NextHop, DomainLooksUpMx) {
  auto h = parse_nexthop("example.com", "25", false);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->host, "example.com");
  EXPECT_EQ(h->port, 25);
  EXPECT_TRUE(h->mx);
  EXPECT_FALSE(h->literal);
}

TEST(NextHop, BracketsTurnMxOff) {
  auto h = parse_nexthop("[mail.example.com]", "smtp", false);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->host, "mail.example.com");
  EXPECT_EQ(h->port, 25);
  EXPECT_FALSE(h->mx);
}

TEST(NextHop, PortsByNumberAndName) {
  auto h = parse_nexthop("[relay.example]:587", "25", false);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->port, 587);
  EXPECT_FALSE(h->mx);
  auto m = parse_nexthop("example.com:submission", "25", false);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->port, 587);
  EXPECT_TRUE(m->mx);
  EXPECT_FALSE(parse_nexthop("[relay.example]:nosuchservice", "25", false));
  EXPECT_FALSE(parse_nexthop("[relay.example]:99999", "25", false));
  EXPECT_FALSE(parse_nexthop("[relay.example", "25", false));
  EXPECT_FALSE(parse_nexthop("", "25", false));
}

TEST(NextHop, AddressLiterals) {
  auto h = parse_nexthop("[127.0.0.1]:2525", "25", false);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->literal);
  EXPECT_EQ(h->host, "127.0.0.1");
  auto v6 = parse_nexthop("[ipv6:::1]:26", "25", false);
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->literal);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 26);
}

TEST(NextHop, LmtpForms) {
  auto u = parse_nexthop("unix:private/dovecot-lmtp", "24", true);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->kind, NextHop::Kind::kUnix);
  EXPECT_EQ(u->host, "private/dovecot-lmtp");
  auto i = parse_nexthop("inet:localhost:2424", "24", true);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->kind, NextHop::Kind::kInet);
  EXPECT_EQ(i->host, "localhost");
  EXPECT_EQ(i->port, 2424);
  EXPECT_FALSE(i->mx);  // LMTP never looks up MX records
  auto d = parse_nexthop("inet:[127.0.0.1]", "24", true);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 24);
  // SMTP does not speak to UNIX sockets.
  EXPECT_FALSE(parse_nexthop("unix:/tmp/x", "25", false));
}
