// Regression test for Config::get_list (src/global/config.cc), kept here as
// tests/unit/global belongs to another area: its pieces used to point into
// a destroyed temporary (cleanup saw garbage in sender_canonical_classes).
#include <gtest/gtest.h>

#include "global/config.h"
#include "util/strings.h"

#include <type_traits>

namespace postern {
namespace {

TEST(ConfigGetListRegression, LongValuesSurvive) {
  Config cfg;
  cfg.set_override("masquerade_domains",
                   "first-very-long-domain-name.example.com, second-very-long-domain.example.org");
  // Churn the heap so that freed memory is reused.
  std::vector<std::string> noise;
  for (int i = 0; i < 100; ++i) noise.emplace_back(200, 'z');
  auto list = cfg.get_list("masquerade_domains");
  for (int i = 0; i < 100; ++i) noise.emplace_back(200, 'q');
  EXPECT_EQ(list, (std::vector<std::string>{"first-very-long-domain-name.example.com",
                                            "second-very-long-domain.example.org"}));
  EXPECT_EQ(cfg.get_list("sender_canonical_classes"),
            (std::vector<std::string>{"envelope_sender", "header_sender"}));
}

}  // namespace
}  // namespace postern

namespace postern {
namespace {

std::string long_value() { return "alpha-element-with-a-long-name, beta-element-with-a-long-name"; }

TEST(SplitRegression, TemporaryStringsGiveOwnedPieces) {
  std::vector<std::string> seen;
  for (auto piece : split(long_value())) {
    std::vector<std::string> noise(50, std::string(100, 'n'));  // reuse freed memory
    seen.emplace_back(piece);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"alpha-element-with-a-long-name",
                                            "beta-element-with-a-long-name"}));
  static_assert(std::is_same_v<decltype(split(long_value())), std::vector<std::string>>);
  std::string lvalue = long_value();
  static_assert(std::is_same_v<decltype(split(lvalue)), std::vector<std::string_view>>);
  static_assert(std::is_same_v<decltype(split("a b")), std::vector<std::string_view>>);
}

}  // namespace
}  // namespace postern
