#include "global/param_table.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace postern {
namespace {

TEST(ParamTable, SortedUniqueAndTyped) {
  auto params = static_params();
  EXPECT_EQ(params.size(), 831u);
  for (size_t i = 1; i < params.size(); ++i) EXPECT_LT(params[i - 1].name, params[i].name);
  const ParamInfo* t = find_static_param("maximal_queue_lifetime");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, ParamType::kTime);
  EXPECT_EQ(t->time_unit, 'd');
  EXPECT_EQ(find_static_param("smtpd_timeout")->type, ParamType::kTime);
  EXPECT_EQ(find_static_param("disable_vrfy_command")->type, ParamType::kBool);
  EXPECT_EQ(find_static_param("message_size_limit")->type, ParamType::kInt);
  EXPECT_EQ(find_static_param("nosuch"), nullptr);
}

TEST(ParamTable, TransportParamsForDeliveryAgentsOnly) {
  auto pipe = transport_params("bsmtp", "pipe");
  EXPECT_EQ(pipe.size(), 17u);
  EXPECT_TRUE(std::any_of(pipe.begin(), pipe.end(), [](const TransportParam& p) {
    return p.name == "bsmtp_time_limit" && p.default_text == "$command_time_limit";
  }));
  // local_destination_concurrency_limit is static; it is not derived again.
  EXPECT_EQ(transport_params("local", "local").size(), 14u);
  EXPECT_TRUE(transport_params("discard", "discard").empty());
  EXPECT_TRUE(transport_params("cleanup", "cleanup").empty());
  auto spawn = transport_params("policy-spf", "spawn");
  ASSERT_EQ(spawn.size(), 1u);
  EXPECT_EQ(spawn[0].name, "policy-spf_time_limit");
}

}  // namespace
}  // namespace postern
