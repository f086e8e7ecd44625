// Bad input never crashes a table parser: random bytes and near-miss
// syntax go through every file-based type and the inline/composite specs.
#include <random>

#include "maps/alias_source.h"
#include "test_util.h"

namespace postern::maps::testing {
namespace {

std::string random_text(std::mt19937& rng, size_t n) {
  static const std::string alphabet = "/!{}()[]$\\|#:, \t\nabc019.%@*+?^-\"'ifendIFENDIF";
  std::uniform_int_distribution<int> pick(0, int(alphabet.size()) - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(i % 17 == 16 ? char(byte(rng)) : alphabet[pick(rng)]);
  return s;
}

TEST(Garbage, TablesNeverCrash) {
  std::mt19937 rng(1234);
  ScratchDir dir;
  for (int round = 0; round < 150; ++round) {
    std::string text = random_text(rng, 400);
    std::string path = dir.write("g" + std::to_string(round), text);
    for (const char* type : {"regexp", "pcre", "cidr", "texthash"}) {
      auto m = open_map(std::string(type) + ":" + path);
      if (!m) continue;
      for (int k = 0; k < 5; ++k) (void)(*m)->lookup(random_text(rng, 20));
      (void)(*m)->lookup("10.1.2.3");
      (void)(*m)->lookup("::1");
    }
    for (const char* type : {"inline", "unionmap", "pipemap", "randmap", "static"}) {
      auto m = open_map(std::string(type) + ":" + random_text(rng, 30));
      if (m) (void)(*m)->lookup("k");
    }
    (void)parse_alias_line(random_text(rng, 80));
  }
}

}  // namespace
}  // namespace postern::maps::testing
