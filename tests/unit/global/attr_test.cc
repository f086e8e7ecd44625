#include "global/attr.h"

#include <sys/socket.h>

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(Attr, EncodingsRoundTrip) {
  AttrList list{{"request", "resolve"}, {"address", "user@example.com"}, {"empty", ""}};
  list.add("flags", 256);
  for (auto enc : {AttrEncoding::kNul, AttrEncoding::kPlain}) {
    std::string bytes = attr_encode(enc, list) + "trailing";
    size_t used = 0;
    auto back = attr_decode(bytes, enc, &used);
    ASSERT_TRUE(back) << back.error().text;
    EXPECT_EQ(back->items(), list.items());
    EXPECT_EQ(bytes.substr(used), "trailing");
    EXPECT_EQ(back->number("flags"), 256);
  }
  EXPECT_EQ(attr_encode(AttrEncoding::kNul, AttrList{{"a", "b"}}), std::string("a\0b\0\0", 5));
  EXPECT_EQ(attr_encode(AttrEncoding::kPlain, AttrList{{"a", "b"}}), "a=b\n\n");
}

TEST(Attr, AccessorsReportMissingAndMalformed) {
  AttrList list{{"status", "x"}};
  EXPECT_FALSE(list.number("status"));
  EXPECT_FALSE(list.number("absent"));
  EXPECT_EQ(list.number_or("absent", 7), 7);
  EXPECT_EQ(list.str("absent"), "");
}

TEST(Attr, StreamRequestAndLimits) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Stream client = Stream::from_fd(UniqueFd(fds[0]));
  Stream server = Stream::from_fd(UniqueFd(fds[1]));
  attr_write(server, AttrEncoding::kNul, AttrList{{"protocol", "test_protocol"}});
  ASSERT_TRUE(server.flush());
  ASSERT_TRUE(attr_expect_protocol(client, AttrEncoding::kNul, "test_protocol"));
  attr_write(client, AttrEncoding::kNul, AttrList{{"q", "1"}});
  ASSERT_TRUE(client.flush());
  auto req = attr_read(server, AttrEncoding::kNul);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->str("q"), "1");
  // An over-long value is refused, not buffered without bound.
  ASSERT_TRUE(server.write_flush(std::string(100, 'x') + std::string(1, '\0')));
  AttrLimits small;
  small.max_length = 10;
  auto big = attr_read(client, AttrEncoding::kNul, small);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::kTooLarge);
}

TEST(Attr, TruncatedInputIsAnError) {
  EXPECT_FALSE(attr_decode(std::string("a\0b", 3), AttrEncoding::kNul));
  EXPECT_FALSE(attr_decode("a=b\n", AttrEncoding::kPlain));
  EXPECT_FALSE(attr_decode("novalue\n\n", AttrEncoding::kPlain));
}

}  // namespace
}  // namespace postern
