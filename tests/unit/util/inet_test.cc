#include "util/inet.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(IpAddress, ParsesBothFamiliesAndRejectsJunk) {
  auto v4 = IpAddress::parse("192.0.2.1");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->to_string(), "192.0.2.1");
  auto v6 = IpAddress::parse("[2001:DB8::1]");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->to_string(), "2001:db8::1");
  EXPECT_TRUE(IpAddress::parse("ipv6:::1"));
  EXPECT_FALSE(IpAddress::parse("192.0.2"));
  EXPECT_FALSE(IpAddress::parse("300.0.0.1"));
  EXPECT_FALSE(IpAddress::parse("example.com"));
  EXPECT_FALSE(IpAddress::parse(""));
}

TEST(IpAddress, MappedV4IsUnmapped) {
  auto a = IpAddress::parse("::ffff:10.1.2.3");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->unmapped().to_string(), "10.1.2.3");
  EXPECT_TRUE(IpAddress::parse("::1")->is_loopback());
  EXPECT_TRUE(IpAddress::parse("127.5.0.1")->is_loopback());
}

TEST(Cidr, ContainsByPrefix) {
  auto net = Cidr::parse("10.0.0.0/8");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains(*IpAddress::parse("10.200.1.1")));
  EXPECT_FALSE(net->contains(*IpAddress::parse("11.0.0.1")));
  EXPECT_TRUE(net->contains(*IpAddress::parse("::ffff:10.0.0.1")));
  auto v6 = Cidr::parse("[2001:db8::]/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*IpAddress::parse("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->contains(*IpAddress::parse("10.0.0.1")));
  EXPECT_EQ(v6->to_string(), "[2001:db8::]/32");
  auto any = Cidr::parse("0.0.0.0/0");
  EXPECT_TRUE(any->contains(*IpAddress::parse("203.0.113.9")));
}

TEST(Cidr, BareAddressIsAHostAndErrorsAreClear) {
  auto host = Cidr::parse("192.0.2.7");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 32);
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/x"));
  auto strict = Cidr::parse("10.1.0.0/8", true);
  ASSERT_FALSE(strict);
  EXPECT_NE(strict.error().text.find("10.0.0.0/8"), std::string::npos);
  EXPECT_TRUE(Cidr::parse("10.1.0.0/8", false));
}

TEST(Interfaces, LoopbackIsListed) {
  bool found = false;
  for (const auto& ia : local_interface_addresses())
    if (ia.address.is_loopback() && ia.address.is_v4()) found = true;
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace postern
