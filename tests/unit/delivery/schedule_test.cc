#include "qmgr/schedule.h"

#include <gtest/gtest.h>

namespace postern::qmgr {
namespace {

TEST(Backoff, AgeClampedBetweenMinimumAndMaximum) {
  EXPECT_EQ(backoff_delay(0, 300, 4000), 300);
  EXPECT_EQ(backoff_delay(299, 300, 4000), 300);
  EXPECT_EQ(backoff_delay(600, 300, 4000), 600);  // doubles: retried at 600, next at 1200
  EXPECT_EQ(backoff_delay(1200, 300, 4000), 1200);
  EXPECT_EQ(backoff_delay(100000, 300, 4000), 4000);
}

TEST(Expiry, LifetimesPerSender) {
  EXPECT_FALSE(message_expired(100, false, 432000, 432000, false));
  EXPECT_TRUE(message_expired(432000, false, 432000, 432000, false));
  EXPECT_TRUE(message_expired(0, false, 0, 432000, false));      // one attempt only
  EXPECT_TRUE(message_expired(60, true, 432000, 60, false));     // bounce_queue_lifetime
  EXPECT_FALSE(message_expired(60, false, 432000, 60, false));
  EXPECT_TRUE(message_expired(1, false, 432000, 432000, true));  // postsuper -e
}

TEST(Batches, GroupedByTransportAndNexthopAndSplitByLimit) {
  std::vector<Routed> r = {
      {"virtual", "demo.test", 0}, {"smtp", "a.example", 1}, {"virtual", "demo.test", 2},
      {"virtual", "other.test", 3}, {"virtual", "demo.test", 4}, {"local", "host", 5},
      {"local", "host", 6}};
  auto b = make_batches(r, [](const std::string& t) { return t == "virtual" ? 2 : t == "local" ? 1 : 50; });
  ASSERT_EQ(b.size(), 6u);
  EXPECT_EQ(b[0].transport, "virtual");
  EXPECT_EQ(b[0].indexes, (std::vector<size_t>{0, 2}));
  EXPECT_EQ(b[1].nexthop, "demo.test");
  EXPECT_EQ(b[1].indexes, (std::vector<size_t>{4}));
  EXPECT_EQ(b[2].transport, "smtp");
  EXPECT_EQ(b[3].nexthop, "other.test");
  EXPECT_EQ(b[4].indexes, (std::vector<size_t>{5}));
  EXPECT_EQ(b[5].indexes, (std::vector<size_t>{6}));
  auto zero = make_batches(r, [](const std::string&) { return 0; });
  EXPECT_EQ(zero.size(), r.size());
}

}  // namespace
}  // namespace postern::qmgr
