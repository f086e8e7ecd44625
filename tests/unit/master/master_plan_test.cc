#include "master/master_plan.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

namespace postern {
namespace {

PlanEnvironment env(bool v6 = true) {
  PlanEnvironment e;
  e.ipv6_supported = v6;
  return e;
}

std::vector<std::string> keys(const std::vector<Endpoint>& eps) {
  std::vector<std::string> out;
  for (const auto& e : eps) out.push_back(e.key());
  return out;
}

TEST(InetEndpoints, HostAndPortInServiceName) {
  auto e = inet_endpoints("127.0.0.1:2525", "all", "all", env());
  ASSERT_TRUE(e) << e.error().text;
  EXPECT_EQ(keys(*e), std::vector<std::string>{"inet:127.0.0.1:2525"});
  e = inet_endpoints("[::1]:25", "all", "all", env());
  ASSERT_TRUE(e) << e.error().text;
  EXPECT_EQ(keys(*e), std::vector<std::string>{"inet:[::1]:25"});
}

TEST(InetEndpoints, InterfacesAndProtocols) {
  auto e = inet_endpoints("smtp", "all", "all", env());
  ASSERT_TRUE(e) << e.error().text;
  EXPECT_EQ(keys(*e), (std::vector<std::string>{"inet:0.0.0.0:25", "inet:[::]:25"}));
  e = inet_endpoints("25", "all", "all", env(false));
  ASSERT_TRUE(e);
  EXPECT_EQ(keys(*e), std::vector<std::string>{"inet:0.0.0.0:25"});
  e = inet_endpoints("25", "loopback-only", "ipv4, ipv6", env());
  ASSERT_TRUE(e);
  EXPECT_EQ(keys(*e), (std::vector<std::string>{"inet:127.0.0.1:25", "inet:[::1]:25"}));
  e = inet_endpoints("2525", "127.0.0.1, ::1", "ipv4", env());
  ASSERT_FALSE(e);  // ::1 is IPv6, disabled
  e = inet_endpoints("2525", "127.0.0.1", "ipv4", env());
  ASSERT_TRUE(e);
  EXPECT_EQ(keys(*e), std::vector<std::string>{"inet:127.0.0.1:2525"});
}

TEST(InetEndpoints, BadInputNamesTheProblem) {
  auto e = inet_endpoints("127.0.0.1:99999", "all", "ipv4", env());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().text, "bad port number: 99999");
  e = inet_endpoints("no-such-service-xyz", "all", "ipv4", env());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().text, "unknown service: no-such-service-xyz/tcp");
  e = inet_endpoints("25", "all", "ipv5", env());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().text, "bad inet_protocols value: ipv5");
}

class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/postern-plan-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Config load(const std::string& main_cf, const std::string& master_cf) {
    std::ofstream(dir_ + "/main.cf") << "queue_directory = /q\ndaemon_directory = /d\n"
                                     << "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
                                     << main_cf;
    std::ofstream(dir_ + "/master.cf") << master_cf;
    auto c = Config::load(dir_);
    EXPECT_TRUE(c) << c.error().text;
    return *c;
  }
  std::string dir_;
};

TEST_F(PlanTest, CommandLinesAsPostfixMasterBuildsThem) {
  Config cfg = load("", R"(smtp      inet  n       -       y       -       -       smtpd
qmgr      unix  n       -       n       300     1       qmgr
defer     unix  -       -       y       -       0       bounce
postlog   unix-dgram n  -       n       -       1       postlogd
submission inet n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o { smtpd_tls_security_level = encrypt }
)");
  auto plan = plan_services(cfg, env());
  ASSERT_TRUE(plan) << plan.error().text;
  ASSERT_EQ(plan->services.size(), 5u);
  const auto& smtp = plan->services[0];
  EXPECT_EQ(smtp.key(), "smtp/inet");
  EXPECT_EQ(smtp.program_path, "/d/smtpd");
  EXPECT_EQ(keys(smtp.endpoints), std::vector<std::string>{"inet:127.0.0.1:25"});
  EXPECT_EQ(smtp.argv, (std::vector<std::string>{"smtpd", "-n", "smtp", "-t", "inet", "-u", "-c"}));
  EXPECT_EQ(smtp.maxproc, 100);
  const auto& qmgr = plan->services[1];
  EXPECT_EQ(qmgr.argv, (std::vector<std::string>{"qmgr", "-l", "-t", "unix", "-u"}));
  EXPECT_EQ(keys(qmgr.endpoints), std::vector<std::string>{"unix:/q/public/qmgr"});
  EXPECT_EQ(qmgr.wakeup, 300);
  const auto& defer = plan->services[2];
  EXPECT_EQ(defer.argv, (std::vector<std::string>{"bounce", "-z", "-n", "defer", "-t", "unix", "-u", "-c"}));
  EXPECT_EQ(keys(defer.endpoints), std::vector<std::string>{"unix:/q/private/defer"});
  EXPECT_EQ(defer.maxproc, 0);
  EXPECT_EQ(keys(plan->services[3].endpoints), std::vector<std::string>{"unix-dgram:/q/public/postlog"});
  EXPECT_EQ(plan->services[4].argv,
            (std::vector<std::string>{"smtpd", "-n", "submission", "-t", "inet", "-u", "-o",
                                      "syslog_name=postfix/submission", "-o",
                                      "smtpd_tls_security_level = encrypt"}));
  // None of these programs exist under /d: each is reported, none is fatal.
  EXPECT_EQ(plan->warnings.size(), 5u);
}

TEST_F(PlanTest, LastDefinitionWinsAndDisabledServicesAreSkipped) {
  Config cfg = load("master_service_disable = echo/unix\ndefault_process_limit = 7\n",
                    "a unix - - n - - one\na unix - - n - 3 two\necho unix - - n - - x\n");
  auto plan = plan_services(cfg, env());
  ASSERT_TRUE(plan) << plan.error().text;
  ASSERT_EQ(plan->services.size(), 1u);
  EXPECT_EQ(plan->services[0].program_path, "/d/two");
  EXPECT_EQ(plan->services[0].maxproc, 3);
  cfg = load("default_process_limit = 7\n", "b unix - - n - - one\n");
  plan = plan_services(cfg, env());
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->services[0].maxproc, 7);
}

TEST_F(PlanTest, ErrorsNameFileAndLine) {
  Config cfg = load("", "ok unix - - n - - x\n127.0.0.1:70000 inet n - n - - smtpd\n");
  auto plan = plan_services(cfg, env());
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().text, dir_ + "/master.cf: line 2: bad port number: 70000");
}

}  // namespace
}  // namespace postern
