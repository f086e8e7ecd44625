// Config::get_list must return its own strings (it once returned views of
// a destroyed temporary: garbage for values longer than the SSO buffer).
#include <gtest/gtest.h>

#include "global/config.h"

namespace postern {
namespace {

TEST(ConfigList, ElementsOutliveTheValue) {
  Config cfg;
  cfg.set_override("notify_classes", "bounce, 2bounce, resource, software, delay, policy");
  auto l = cfg.get_list("notify_classes");
  EXPECT_EQ(l, (std::vector<std::string>{"bounce", "2bounce", "resource", "software", "delay",
                                         "policy"}));
}

}  // namespace
}  // namespace postern
