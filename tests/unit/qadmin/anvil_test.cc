#include "anvil/anvil_table.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

using namespace postern;

namespace {

TEST(Anvil, ConnectionCountAndRate) {
  AnvilTable t(60);
  const std::string id = "smtp:127.0.0.1";
  EXPECT_EQ(t.connect(id, 1000).count, 1);
  const AnvilEntry& e = t.connect(id, 1010);
  EXPECT_EQ(e.count, 2);
  EXPECT_EQ(e.rate, 2);
  t.disconnect(id, 1020);
  AnvilEntry l = t.lookup(id, 1020);
  EXPECT_EQ(l.count, 1);
  EXPECT_EQ(l.rate, 2);
  // Still inside the time unit at 1060; a new unit after 1000 + 60.
  EXPECT_EQ(t.connect(id, 1060).rate, 3);
  const AnvilEntry& n = t.connect(id, 1061);
  EXPECT_EQ(n.rate, 1);
  EXPECT_EQ(n.count, 3);
}

TEST(Anvil, MessageRecipientTlsAuthRates) {
  AnvilTable t(60);
  const std::string id = "smtp:10.0.0.1";
  t.connect(id, 100);
  EXPECT_EQ(t.message(id, 100).mail, 1);
  EXPECT_EQ(t.message(id, 101).mail, 2);
  EXPECT_EQ(t.recipient(id, 101).rcpt, 1);
  EXPECT_EQ(t.newtls(id, 102).newtls, 1);
  EXPECT_EQ(t.newtls_status(id, 103).newtls, 1);  // no increment
  EXPECT_EQ(t.auth(id, 103).auth, 1);
  AnvilEntry l = t.lookup(id, 104);
  EXPECT_EQ(l.mail, 2);
  EXPECT_EQ(l.rcpt, 1);
  EXPECT_EQ(t.lookup(id, 200).mail, 0);  // the time unit passed
  EXPECT_EQ(t.message(id, 200).mail, 1);
}

TEST(Anvil, ClientsAreSeparateAndExpire) {
  AnvilTable t(60);
  t.connect("smtp:1.1.1.1", 0);
  t.connect("smtp:2.2.2.2", 0);
  EXPECT_EQ(t.lookup("smtp:2.2.2.2", 1).count, 1);
  EXPECT_EQ(t.lookup("submission:1.1.1.1", 1).count, 0);
  t.disconnect("smtp:1.1.1.1", 10);
  t.expire(30);
  EXPECT_EQ(t.size(), 2u);
  t.expire(61);
  EXPECT_EQ(t.size(), 1u);  // 2.2.2.2 still has a connection open
}

TEST(Anvil, StatisticsLines) {
  setenv("TZ", "UTC", 1);
  tzset();
  AnvilTable t(60);
  t.connect("smtp:127.0.0.1", 1700000000);
  t.connect("smtp:127.0.0.1", 1700000001);
  t.message("smtp:127.0.0.1", 1700000002);
  auto lines = t.statistics();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "max connection rate 2/60s for (smtp:127.0.0.1) at Nov 14 22:13:21");
  EXPECT_EQ(lines[1], "max connection count 2 for (smtp:127.0.0.1) at Nov 14 22:13:21");
  EXPECT_EQ(lines[2], "max message rate 1/60s for (smtp:127.0.0.1) at Nov 14 22:13:22");
  EXPECT_EQ(lines[3], "max cache size 1 at Nov 14 22:13:20");
  EXPECT_TRUE(t.statistics().empty());  // reset after reporting
}

}  // namespace
