// qmgr_message_recipient_limit: recipients are taken in slices.
#include <gtest/gtest.h>

#include <vector>

#include "qmgr/schedule.h"

using postern::qmgr::next_slice;

TEST(QmgrSlice, TakesUpToTheBudgetAndSaysWhereToGoOn) {
  std::vector<bool> done(10, false);
  auto is_done = [&](size_t i) { return static_cast<bool>(done[i]); };
  auto s = next_slice(10, 0, 4, 1, is_done);
  EXPECT_EQ(s.indexes, (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(s.next, 4u);
  EXPECT_TRUE(s.more);
  s = next_slice(10, 8, 4, 1, is_done);
  EXPECT_EQ(s.indexes, (std::vector<size_t>{8, 9}));
  EXPECT_FALSE(s.more);
}

TEST(QmgrSlice, SkipsDoneRecipients) {
  std::vector<bool> done{true, false, true, true, false, false, true};
  auto is_done = [&](size_t i) { return static_cast<bool>(done[i]); };
  auto s = next_slice(done.size(), 0, 2, 1, is_done);
  EXPECT_EQ(s.indexes, (std::vector<size_t>{1, 4}));
  EXPECT_EQ(s.next, 5u);
  EXPECT_TRUE(s.more);
  s = next_slice(done.size(), s.next, 2, 1, is_done);
  EXPECT_EQ(s.indexes, (std::vector<size_t>{5}));
  EXPECT_FALSE(s.more);  // only a done recipient is left
}

TEST(QmgrSlice, AnExhaustedBudgetStillTakesTheMinimum) {
  std::vector<bool> done(50, false);
  auto is_done = [&](size_t i) { return static_cast<bool>(done[i]); };
  auto s = next_slice(50, 0, -7, 10, is_done);
  EXPECT_EQ(s.indexes.size(), 10u);
  s = next_slice(50, 0, 0, 0, is_done);
  EXPECT_EQ(s.indexes.size(), 1u);
}
