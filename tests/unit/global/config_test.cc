#include "global/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "util/stream.h"

namespace postern {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/postern-config-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { (void)!::system(("rm -rf " + dir_).c_str()); }
  void write(const std::string& name, const std::string& text) {
    auto fd = UniqueFd(::open((dir_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    ASSERT_TRUE(write_all(fd.get(), text));
  }
  std::string dir_;
};

TEST_F(ConfigTest, LayersOverridesMainCfAndDefaults) {
  write("main.cf", "myhostname = mail.example.com\nsmtpd_timeout = 60s\nuser_thing = $myhostname\n");
  auto cfg = Config::load(dir_);
  ASSERT_TRUE(cfg) << cfg.error().text;
  EXPECT_EQ(cfg->get("myhostname"), "mail.example.com");
  EXPECT_EQ(cfg->get("mydomain"), "example.com");
  EXPECT_EQ(cfg->get("myorigin"), "mail.example.com");
  EXPECT_EQ(cfg->get_time("smtpd_timeout"), 60);
  EXPECT_EQ(cfg->get("user_thing"), "mail.example.com");
  cfg->set_override("smtpd_timeout", "5m");
  EXPECT_EQ(cfg->get_time("smtpd_timeout"), 300);
  EXPECT_EQ(cfg->get_time("maximal_queue_lifetime"), 5 * 86400);
  EXPECT_EQ(cfg->get_int("message_size_limit"), 10240000);
  EXPECT_FALSE(cfg->get_bool("disable_vrfy_command"));
  EXPECT_EQ(cfg->raw("config_directory"), dir_);
}

TEST_F(ConfigTest, TimeUnitsDefaultPerParameter) {
  write("main.cf", "maximal_queue_lifetime = 2\nbounce_queue_lifetime = 3h\n");
  auto cfg = Config::load(dir_);
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->get_time("maximal_queue_lifetime"), 2 * 86400);
  EXPECT_EQ(cfg->get_time("bounce_queue_lifetime"), 3 * 3600);
}

TEST_F(ConfigTest, BadValuesNameTheParameter) {
  write("main.cf", "smtpd_timeout = 10x\nmessage_size_limit = lots\ndisable_vrfy_command = maybe\n");
  auto cfg = Config::load(dir_);
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->time_value("smtpd_timeout").error().text,
            "parameter smtpd_timeout: bad time value or unit: 10x");
  EXPECT_EQ(cfg->int_value("message_size_limit").error().text,
            "bad numerical configuration: message_size_limit = lots");
  EXPECT_EQ(cfg->bool_value("disable_vrfy_command").error().text,
            "bad boolean configuration: disable_vrfy_command = maybe");
}

TEST_F(ConfigTest, RecursionIsReportedWithTheName) {
  write("main.cf", "relayhost = $a\na = $b\nb = $a\n");
  auto cfg = Config::load(dir_);
  ASSERT_TRUE(cfg);
  auto v = cfg->expand("relayhost");
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().text.find("unreasonable macro call nesting"), std::string::npos);
  EXPECT_EQ(v.error().text.rfind("relayhost: ", 0), 0u);
}

TEST_F(ConfigTest, MissingMainCfAndBadLines) {
  auto missing = Config::load(dir_);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().text.find("main.cf: No such file or directory"), std::string::npos);
  EXPECT_TRUE(Config::load(dir_, true));
  write("main.cf", "ok = 1\nbroken line\n");
  auto bad = Config::load(dir_);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().text.find("line 2: missing '='"), std::string::npos);
}

TEST_F(ConfigTest, TransportParamsComeFromMasterCf) {
  write("main.cf", "");
  write("master.cf",
        "smtp inet n - n - - smtpd\nrelay unix - - n - - smtp\nspam unix - n n - - pipe argv=/x\n");
  auto cfg = Config::load(dir_);
  ASSERT_TRUE(cfg);
  EXPECT_TRUE(cfg->is_known("relay_destination_concurrency_limit"));
  EXPECT_TRUE(cfg->is_known("spam_time_limit"));
  EXPECT_FALSE(cfg->is_known("relay_time_limit"));
  EXPECT_EQ(cfg->get_int("relay_destination_concurrency_limit"), 20);
}

TEST_F(ConfigTest, ComputedDefaults) {
  write("main.cf", "compatibility_level = 3.6\ninet_interfaces = 127.0.0.1\n");
  auto cfg = Config::load(dir_);
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->get("mynetworks"), "127.0.0.1/32");
  cfg->set_override("mynetworks_style", "subnet");
  EXPECT_EQ(cfg->get("mynetworks"), "127.0.0.0/8");
  EXPECT_EQ(cfg->get("process_id"), std::to_string(::getpid()));
  EXPECT_EQ(cfg->get("relay_domains"), "");
  EXPECT_EQ(cfg->get("smtpd_relay_restrictions"),
            "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination");
}

}  // namespace
}  // namespace postern
