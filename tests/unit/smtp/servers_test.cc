#include "smtp/servers.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace postern;
using namespace postern::smtp;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

struct FakeDns {
  std::map<std::string, std::vector<std::pair<int, std::string>>> mx;
  std::set<std::string> null_mx, mx_temp;
  std::map<std::string, std::vector<IpAddress>> a;
  std::set<std::string> a_temp;

  Lookups lookups() {
    Lookups l;
    l.mx = [this](const std::string& d, bool* null) -> Result<std::vector<std::pair<int, std::string>>> {
      if (null_mx.contains(d)) {
        *null = true;
        return std::vector<std::pair<int, std::string>>{};
      }
      if (mx_temp.contains(d)) return fail(Errc::kTemporary, "Host or domain name not found. Name service error for name=" + d + " type=MX: Host not found, try again");
      auto it = mx.find(d);
      if (it == mx.end()) return fail(Errc::kNotFound, "no MX");
      return it->second;
    };
    l.dns_addresses = [this](const std::string& h) -> Result<std::vector<IpAddress>> {
      if (a_temp.contains(h)) return fail(Errc::kTemporary, "try again");
      auto it = a.find(h);
      if (it == a.end()) return fail(Errc::kNotFound, "Host or domain name not found. Name service error for name=" + h + " type=A: Host not found");
      return it->second;
    };
    return l;
  }
};

NextHop hop(const char* text) { return *parse_nexthop(text, "25", false); }

}  // namespace

TEST(Servers, MxHostsInPreferenceOrder) {
  FakeDns d;
  d.mx["example.com"] = {{10, "mx1.example.com"}, {20, "mx2.example.com"}};
  d.a["mx1.example.com"] = {ip("192.0.2.1")};
  d.a["mx2.example.com"] = {ip("192.0.2.2"), ip("192.0.2.3")};
  auto s = find_servers(hop("example.com"), LookupOptions{}, d.lookups());
  ASSERT_TRUE(s);
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ((*s)[0].name(true), "mx1.example.com[192.0.2.1]:25");
  EXPECT_TRUE((*s)[0].best_mx);
  EXPECT_FALSE((*s)[1].best_mx);
  EXPECT_EQ((*s)[2].host, "mx2.example.com");
}

TEST(Servers, NoMxFallsBackToAddresses) {
  FakeDns d;
  d.a["plain.example"] = {ip("192.0.2.9")};
  auto s = find_servers(hop("plain.example"), LookupOptions{}, d.lookups());
  ASSERT_TRUE(s);
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].name(), "plain.example[192.0.2.9]");
}

TEST(Servers, BracketsSkipMx) {
  FakeDns d;
  d.mx["example.com"] = {{10, "mx1.example.com"}};
  d.a["example.com"] = {ip("192.0.2.7")};
  auto s = find_servers(hop("[example.com]"), LookupOptions{}, d.lookups());
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)[0].addr, ip("192.0.2.7"));
}

TEST(Servers, NullMxBounces) {
  FakeDns d;
  d.null_mx.insert("nomail.example");
  auto s = find_servers(hop("nomail.example"), LookupOptions{}, d.lookups());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().dsn, "5.1.0");  // Postfix 3.7 (RFC 7505 would say 5.1.10)
  EXPECT_EQ(s.error().reason, "Domain nomail.example does not accept mail (nullMX)");
}

TEST(Servers, TemporaryAndPermanentDnsFailures) {
  FakeDns d;
  d.mx_temp.insert("flaky.example");
  auto t = find_servers(hop("flaky.example"), LookupOptions{}, d.lookups());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().dsn[0], '4');
  auto p = find_servers(hop("nonexistent.example"), LookupOptions{}, d.lookups());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().dsn, "5.4.4");
  EXPECT_NE(p.error().reason.find("type=A: Host not found"), std::string::npos);
}

TEST(Servers, MxPointingAtUsLoops) {
  FakeDns d;
  d.mx["loop.example"] = {{10, "me.example"}, {20, "backup.example"}};
  d.a["me.example"] = {ip("192.0.2.50")};
  d.a["backup.example"] = {ip("192.0.2.51")};
  LookupOptions o;
  o.is_self = [](const IpAddress& a) { return a == *IpAddress::parse("192.0.2.50"); };
  auto s = find_servers(hop("loop.example"), o, d.lookups());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().dsn, "5.4.6");
  EXPECT_EQ(s.error().reason, "mail for loop.example loops back to myself");
  // As a backup MX we deliver to the better ones only.
  d.mx["backup.test"] = {{10, "primary.example"}, {20, "me.example"}};
  d.a["primary.example"] = {ip("192.0.2.60")};
  auto b = find_servers(hop("backup.test"), o, d.lookups());
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].host, "primary.example");
}

TEST(Servers, InetProtocolsFilterAddresses) {
  FakeDns d;
  d.a["dual.example"] = {ip("192.0.2.1"), ip("2001:db8::1")};
  LookupOptions o;
  o.want_v4 = false;
  auto s = find_servers(hop("[dual.example]"), o, d.lookups());
  ASSERT_TRUE(s);
  ASSERT_EQ(s->size(), 1u);
  EXPECT_TRUE((*s)[0].addr.is_v6());
  o.want_v4 = true;
  o.prefer = "ipv6";
  auto p = find_servers(hop("[dual.example]"), o, d.lookups());
  ASSERT_TRUE(p);
  EXPECT_TRUE((*p)[0].addr.is_v6());
}

TEST(Servers, UnixSocketForLmtp) {
  auto h = parse_nexthop("unix:/run/dovecot/lmtp", "24", true);
  auto s = find_servers(*h, LookupOptions{}, Lookups{});
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)[0].unix_path, "/run/dovecot/lmtp");
}

TEST(Servers, PasswordLookupKeys) {
  Server s;
  s.host = "smtp.provider.example";
  s.addr = ip("192.0.2.25");
  s.port = 587;
  s.dest = "[smtp.provider.example]:587";
  std::vector<std::string> want{"[smtp.provider.example]:587", "smtp.provider.example",
                                "[smtp.provider.example]"};
  EXPECT_EQ(password_keys(s), want);
  Server mx;
  mx.host = "mx1.example.com";
  mx.addr = ip("192.0.2.1");
  mx.port = 25;
  mx.dest = "example.com";
  std::vector<std::string> want_mx{"[mx1.example.com]:25", "mx1.example.com", "example.com"};
  EXPECT_EQ(password_keys(mx), want_mx);
}
