#include "global/queue_id.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(QueueId, ShortIsHexMicrosecondsThenHexInode) {
  // DC0B4A7409B: usec 0xDC0B4 = 901300, inode 0xA7409B.
  EXPECT_EQ(make_short_queue_id(901300, 0xA7409B), "DC0B4A7409B");
  EXPECT_EQ(make_short_queue_id(5, 0x1), "000051");
  EXPECT_FALSE(is_long_queue_id("DC0B4A7409B"));
}

TEST(QueueId, LongMatchesPostfix) {
  // Observed from Postfix 3.7: 4jXwtN5YLSz1bc8s.
  auto parts = parse_long_queue_id("4jXwtN5YLSz1bc8s");
  ASSERT_TRUE(parts);
  EXPECT_EQ(make_long_queue_id(parts->sec, parts->usec, parts->inode), "4jXwtN5YLSz1bc8s");
  EXPECT_EQ(parts->usec, 782416);
  EXPECT_TRUE(is_long_queue_id("4jXwtN5YLSz1bc8s"));
  // Seconds have at least 6 digits, microseconds exactly 4.
  EXPECT_EQ(make_long_queue_id(0, 0, 0), "0000000000z0");
  EXPECT_EQ(make_long_queue_id(1, 1, 51), "0000010001z10");
}

TEST(QueueId, HashKey) {
  EXPECT_EQ(queue_id_hash_key("DC0B4A7409B"), "DC0B4A7409B");
  // The long form hashes by its microseconds turned back into 5 hex digits.
  EXPECT_EQ(queue_id_hash_key("4jXwtN5YLSz1bc8s"), "BF050");
  // A sample from Postfix: 4jY5t24dxzz1bYFs was in hold/, but would hash as:
  auto parts = parse_long_queue_id("4jY5t24dxzz1bYFs");
  ASSERT_TRUE(parts);
  EXPECT_EQ(queue_id_hash_key("4jY5t24dxzz1bYFs")[0], fmt::format("{:05X}", parts->usec)[0]);
}

TEST(QueueId, Validity) {
  EXPECT_TRUE(valid_queue_id("DC0B4A7409B"));
  EXPECT_TRUE(valid_queue_id("4jXwtN5YLSz1bc8s"));
  EXPECT_TRUE(valid_queue_id("A_B"));
  EXPECT_FALSE(valid_queue_id(""));
  EXPECT_FALSE(valid_queue_id("12345.678"));
  EXPECT_FALSE(valid_queue_id("../etc"));
  EXPECT_FALSE(valid_queue_id("a/b"));
  EXPECT_FALSE(valid_queue_id(std::string(101, 'A')));
}

}  // namespace
}  // namespace postern
