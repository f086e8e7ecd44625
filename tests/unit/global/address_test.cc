#include "global/mail_address.h"
#include "global/rfc822_address.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(MailAddress, QuotingRoundTrip) {
  EXPECT_EQ(externalize_address("foo bar@example.com"), "\"foo bar\"@example.com");
  EXPECT_EQ(externalize_address("a.b+c@example.com"), "a.b+c@example.com");
  EXPECT_EQ(externalize_address(".a@x"), "\".a\"@x");
  EXPECT_EQ(externalize_address("a\"b@x"), "\"a\\\"b\"@x");
  EXPECT_EQ(internalize_address("\"foo bar\"@example.com"), "foo bar@example.com");
  EXPECT_EQ(internalize_address("\"a\\\"b\"@x"), "a\"b@x");
  EXPECT_EQ(externalize_address("postmaster"), "postmaster");
}

TEST(MailAddress, SplitAtLastAt) {
  auto a = split_address("a@b@example.com");
  EXPECT_EQ(a.local, "a@b");
  EXPECT_EQ(a.domain, "example.com");
  EXPECT_FALSE(split_address("user").has_at);
}

TEST(MailAddress, HostnameValidity) {
  EXPECT_TRUE(valid_hostname("mail.example.com"));
  EXPECT_TRUE(valid_hostname("mail.example.com."));
  EXPECT_FALSE(valid_hostname("-bad.example.com"));
  EXPECT_FALSE(valid_hostname("a..b"));
  EXPECT_FALSE(valid_hostname("1.2.3.4"));
  EXPECT_FALSE(valid_hostname(std::string(64, 'a') + ".com"));
  EXPECT_FALSE(valid_hostname("has space.com"));
  EXPECT_TRUE(valid_mailhost("[192.0.2.1]"));
  EXPECT_TRUE(valid_mailhost("[IPv6:2001:db8::1]"));
  EXPECT_FALSE(valid_mailhost("[2001:db8::1]"));
  EXPECT_FALSE(valid_mailhost("[300.1.1.1]"));
  EXPECT_TRUE(is_fqdn("a.b"));
  EXPECT_FALSE(is_fqdn("localhost."));
}

std::vector<std::string> addrs(std::string_view v) {
  std::vector<std::string> out;
  for (const auto& a : parse_header_addresses(v)) out.push_back(a.address);
  return out;
}

TEST(HeaderAddresses, CommonForms) {
  using V = std::vector<std::string>;
  EXPECT_EQ(addrs("Joe Example <joe@example.com>"), V{"joe@example.com"});
  EXPECT_EQ(addrs("joe@example.com (Joe, the \"boss\")"), V{"joe@example.com"});
  EXPECT_EQ(addrs("\"Doe, Jane\" <jane@x.org>, bob@y.org"), (V{"jane@x.org", "bob@y.org"}));
  EXPECT_EQ(addrs("team: a@x, b@y;, c@z"), (V{"a@x", "b@y", "c@z"}));
  EXPECT_EQ(addrs("undisclosed-recipients:;"), V{});
  EXPECT_EQ(addrs("<@relay.example:user@x>"), V{"user@x"});
  EXPECT_EQ(addrs("\"odd local\"@example.com"), V{"odd local@example.com"});
  EXPECT_EQ(addrs("<>"), V{""});
  EXPECT_EQ(addrs("user"), V{"user"});
}

TEST(HeaderAddresses, MalformedInputDoesNotFail) {
  EXPECT_EQ(addrs("Broken <a@b").size(), 1u);
  EXPECT_EQ(addrs("\"unterminated <a@b>").size(), 1u);
  EXPECT_EQ(addrs("(unterminated comment a@b").size(), 0u);
  EXPECT_EQ(addrs("").size(), 0u);
}

TEST(HeaderAddresses, RewriteKeepsPhrasesAndComments) {
  auto add_domain = [](const std::string& a) {
    return a.find('@') == std::string::npos ? a + "@example.com" : a;
  };
  EXPECT_EQ(rewrite_header_addresses("Joe <joe>, root (admin), x@y", add_domain),
            "Joe <joe@example.com>, root@example.com (admin), x@y");
  EXPECT_EQ(rewrite_header_addresses("\"A B\" <\"a b\">", add_domain), "\"A B\" <\"a b\"@example.com>");
}

}  // namespace
}  // namespace postern

namespace postern {
namespace {
// Found by tests/fuzz/mime_state_fuzz: a stray ')' made the tokenizer stall
// and allocate without end.
TEST(HeaderAddresses, StrayClosingParenthesisIsConsumed) {
  auto v = parse_header_addresses(" undisclosed-rec)pients:;");
  EXPECT_TRUE(v.empty());
  auto w = parse_header_addresses("a)b@example.com, ) , c@d.example");
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].address, "a)b@example.com");
  EXPECT_EQ(w[1].address, ")");
  EXPECT_EQ(w[2].address, "c@d.example");
}
}  // namespace
}  // namespace postern
