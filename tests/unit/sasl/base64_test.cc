#include <gtest/gtest.h>

#include "sasl/base64.h"

namespace postern::sasl {
namespace {

TEST(Base64, RoundTrip) {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("\0alice\0secret", 13)}) {
    auto d = base64_decode(base64_encode(s));
    ASSERT_TRUE(d) << s;
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(base64_encode(std::string("\0alice\0secret", 13)), "AGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(base64_encode("ab"), "YWI=");
}

TEST(Base64, RejectsMalformed) {
  EXPECT_FALSE(base64_decode("YWI"));       // length
  EXPECT_FALSE(base64_decode("Y=Fi"));      // padding in the middle
  EXPECT_FALSE(base64_decode("YW=i"));
  EXPECT_FALSE(base64_decode("YWI\t"));     // protocol injection
  EXPECT_FALSE(base64_decode("YW\nI"));
  EXPECT_FALSE(base64_decode("YWI=YWI="));  // padding before the end
  EXPECT_FALSE(base64_decode("*"));
  EXPECT_TRUE(base64_decode(""));
}

}  // namespace
}  // namespace postern::sasl
