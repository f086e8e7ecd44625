// Lookups against a real dnsmasq started on a free 127.0.0.1 port.
#include "dns/dns.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <thread>

namespace postern::dns {
namespace {

int free_udp_port() {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  socklen_t len = sizeof sin;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  ::close(fd);
  return ntohs(sin.sin_port);
}

class DnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::access("/usr/sbin/dnsmasq", X_OK) != 0) return;
    port_ = free_udp_port();
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string port = "--port=" + std::to_string(port_);
      int null_fd = ::open("/dev/null", O_WRONLY);
      ::dup2(null_fd, 2);
      ::execl("/usr/sbin/dnsmasq", "dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv",
              "--no-hosts", "--listen-address=127.0.0.1", "--bind-interfaces", port.c_str(),
              "--local=/test/", "--local=/arpa/", "--pid-file=", "--user=root",
              "--mx-host=example.test,mx1.example.test,10",
              "--mx-host=example.test,mx2.example.test,20",
              "--mx-host=example.test,mx3.example.test,20", "--mx-host=nullmx.test,.,0",
              "--host-record=mx1.example.test,127.0.0.1",
              "--host-record=dual.test,127.0.0.2,::2",
              "--host-record=v6only.test,2001:db8::1",
              "--txt-record=txt.test,hello world",
              "--ptr-record=1.0.0.127.in-addr.arpa,localhost.test",
              "--host-record=2.0.0.127.zen.test,127.0.0.2", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Wait until it answers.
    for (int i = 0; i < 50; ++i) {
      auto r = make();
      if (r && (*r)->txt("txt.test")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  static void TearDownTestSuite() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void SetUp() override {
    if (pid_ <= 0) GTEST_SKIP() << "dnsmasq is not installed (tools/deps installs it)";
    auto r = make();
    ASSERT_TRUE(r) << r.error().text;
    resolver_ = std::move(*r);
  }
  static Result<std::unique_ptr<Resolver>> make() {
    ResolverOptions o;
    o.servers = "127.0.0.1:" + std::to_string(port_);
    o.timeout = std::chrono::milliseconds(500);
    o.tries = 1;
    return Resolver::create(o);
  }
  static inline pid_t pid_ = -1;
  static inline int port_ = 0;
  std::unique_ptr<Resolver> resolver_;
};

TEST_F(DnsTest, MxInPreferenceOrder) {
  auto mx = resolver_->mx("example.test");
  ASSERT_TRUE(mx) << mx.error().text;
  ASSERT_EQ(mx->hosts.size(), 3u);
  EXPECT_EQ(mx->hosts[0].host, "mx1.example.test");
  EXPECT_EQ(mx->hosts[0].preference, 10);
  EXPECT_EQ(mx->hosts[1].preference, 20);
  EXPECT_EQ(mx->hosts[2].preference, 20);
  EXPECT_FALSE(mx->null_mx);
}

TEST_F(DnsTest, EqualPreferencesAreShuffled) {
  bool saw_mx2_first = false, saw_mx3_first = false;
  for (int i = 0; i < 40 && !(saw_mx2_first && saw_mx3_first); ++i) {
    auto mx = resolver_->mx("example.test");
    ASSERT_TRUE(mx);
    saw_mx2_first |= mx->hosts[1].host == "mx2.example.test";
    saw_mx3_first |= mx->hosts[1].host == "mx3.example.test";
  }
  EXPECT_TRUE(saw_mx2_first && saw_mx3_first);
}

TEST_F(DnsTest, NullMxAndMissingDomain) {
  auto null_mx = resolver_->mx("nullmx.test");
  ASSERT_TRUE(null_mx) << null_mx.error().text;
  EXPECT_TRUE(null_mx->null_mx);
  EXPECT_TRUE(null_mx->hosts.empty());
  auto missing = resolver_->mx("no-such-domain.test");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  auto no_mx = resolver_->mx("dual.test");
  ASSERT_FALSE(no_mx);
  EXPECT_EQ(no_mx.error().code, Errc::kNotFound);
}

TEST_F(DnsTest, AddressesPerProtocol) {
  auto both = resolver_->addresses("dual.test", true, true);
  ASSERT_TRUE(both);
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0].to_string(), "127.0.0.2");
  EXPECT_EQ((*both)[1].to_string(), "::2");
  auto v4 = resolver_->addresses("dual.test", true, false);
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->size(), 1u);
  auto v6only = resolver_->addresses("v6only.test", true, false);
  ASSERT_FALSE(v6only);
  EXPECT_EQ(v6only.error().code, Errc::kNotFound);
}

TEST_F(DnsTest, ReverseTxtAndDnsbl) {
  auto ptr = resolver_->reverse(*IpAddress::parse("127.0.0.1"));
  ASSERT_TRUE(ptr) << ptr.error().text;
  EXPECT_EQ((*ptr)[0], "localhost.test");
  auto txt = resolver_->txt("txt.test");
  ASSERT_TRUE(txt);
  EXPECT_EQ((*txt)[0], "hello world");
  std::string listed = reversed_address_name(*IpAddress::parse("127.0.0.2"), "zen.test");
  EXPECT_EQ(listed, "2.0.0.127.zen.test");
  EXPECT_TRUE(resolver_->addresses(listed, true, false));
  auto clean = resolver_->addresses(reversed_address_name(*IpAddress::parse("127.0.0.3"), "zen.test"),
                                    true, false);
  EXPECT_EQ(clean.error().code, Errc::kNotFound);
}

TEST(DnsName, ReversedIpv6) {
  EXPECT_EQ(reversed_address_name(*IpAddress::parse("2001:db8::1"), "ip6.arpa"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

TEST(DnsTimeout, SilentServerIsATemporaryFailure) {
  // A UDP socket that never answers.
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  socklen_t len = sizeof sin;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  ResolverOptions o;
  o.servers = "127.0.0.1:" + std::to_string(ntohs(sin.sin_port));
  o.timeout = std::chrono::milliseconds(200);
  o.tries = 1;
  auto r = Resolver::create(o);
  ASSERT_TRUE(r);
  auto mx = (*r)->mx("example.test");
  ASSERT_FALSE(mx);
  EXPECT_EQ(mx.error().code, Errc::kTemporary);
  ::close(fd);
}

TEST(DnsOptions, BadServerListIsAnError) {
  ResolverOptions o;
  o.servers = "not an address";
  EXPECT_FALSE(Resolver::create(o));
}

TEST(NativeLookup, HonoursEtcHosts) {
  auto a = native_addresses("localhost", true, false);
  ASSERT_TRUE(a) << a.error().text;
  EXPECT_TRUE((*a)[0].is_loopback());
}

}  // namespace
}  // namespace postern::dns
