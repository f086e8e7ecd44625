#include "smtpd/smtpd_proxy.h"

#include <gtest/gtest.h>

using namespace postern;
using namespace postern::smtpd;

TEST(SmtpdProxyEndpoint, ParsesThePostfixForms) {
  auto a = parse_proxy_endpoint("127.0.0.1:10025");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->unix_socket);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 10025);
  auto b = parse_proxy_endpoint("inet:[::1]:10025");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 10025);
  auto c = parse_proxy_endpoint("unix:/run/filter.sock");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->unix_socket);
  EXPECT_EQ(c->host, "/run/filter.sock");
  auto d = parse_proxy_endpoint("localhost:smtp");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 25);
}

TEST(SmtpdProxyEndpoint, RejectsMalformedOnes) {
  for (const char* bad : {"", "127.0.0.1", ":25", "host:", "host:99999", "host:nosuchservice", "unix:"})
    EXPECT_FALSE(parse_proxy_endpoint(bad)) << bad;
}
