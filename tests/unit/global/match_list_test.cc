#include "global/match_list.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace postern {
namespace {

MatchList parse(std::string_view text, bool parent = false, TableLookup lookup = {}) {
  MatchListOptions o;
  o.param_name = "test_list";
  o.parent_matches_subdomains = parent;
  o.lookup = std::move(lookup);
  auto list = MatchList::parse(text, std::move(o));
  EXPECT_TRUE(list) << list.error().text;
  return list ? *list : MatchList{};
}

TEST(MatchList, DomainsMatchExactlyIgnoringCaseAndTrailingDot) {
  MatchList l = parse("example.com, Other.ORG");
  EXPECT_TRUE(*l.match_domain("EXAMPLE.com"));
  EXPECT_TRUE(*l.match_domain("other.org."));
  EXPECT_FALSE(*l.match_domain("sub.example.com"));
  EXPECT_FALSE(*l.match_domain("badexample.com"));
}

TEST(MatchList, SubdomainsFollowTheParentRuleOrALeadingDot) {
  EXPECT_TRUE(*parse("example.com", true).match_domain("a.b.example.com"));
  EXPECT_FALSE(*parse("example.com", true).match_domain("badexample.com"));
  MatchList dotted = parse(".example.com");
  EXPECT_TRUE(*dotted.match_domain("a.example.com"));
  EXPECT_FALSE(*dotted.match_domain("example.com"));
}

TEST(MatchList, FirstMatchWinsAndNegationSaysNo) {
  MatchList l = parse("!bad.example.com .example.com");
  EXPECT_FALSE(*l.match_domain("bad.example.com"));
  EXPECT_TRUE(*l.match_domain("good.example.com"));
  EXPECT_TRUE(*parse("!!example.com").match_domain("example.com"));
}

TEST(MatchList, TablesAreAskedForTheNameThenEachParent) {
  std::vector<std::string> asked;
  auto lookup = [&](std::string_view spec, std::string_view key, bool) -> Result<std::string> {
    EXPECT_EQ(spec, "hash:/etc/postfix/relay");
    asked.emplace_back(key);
    if (key == "example.com" || key == ".example.com") return std::string("OK");
    return fail(Errc::kNotFound, "not found");
  };
  EXPECT_TRUE(*parse("hash:/etc/postfix/relay", false, lookup).match_domain("A.B.Example.com"));
  EXPECT_EQ(asked, (std::vector<std::string>{"a.b.example.com", ".b.example.com", ".example.com"}));
  asked.clear();
  EXPECT_TRUE(*parse("hash:/etc/postfix/relay", true, lookup).match_domain("a.b.example.com"));
  EXPECT_EQ(asked, (std::vector<std::string>{"a.b.example.com", "b.example.com", "example.com"}));
  asked.clear();
  EXPECT_FALSE(*parse("hash:/etc/postfix/relay", true, lookup).match_domain("other.net"));
  EXPECT_EQ(asked, (std::vector<std::string>{"other.net", "net"}));
}

TEST(MatchList, TableFailureIsTemporaryAndNamesTheList) {
  auto lookup = [](std::string_view, std::string_view, bool) -> Result<std::string> {
    return fail(Errc::kTemporary, "ldap:/etc/postfix/ldap.cf: server unavailable");
  };
  auto r = parse("ldap:/etc/postfix/ldap.cf", false, lookup).match_domain("x.org");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTemporary);
  EXPECT_NE(r.error().text.find("test_list:"), std::string::npos);
}

TEST(MatchList, BracedTableSpecsStayWhole) {
  std::string seen;
  auto lookup = [&](std::string_view spec, std::string_view key, bool) -> Result<std::string> {
    seen = spec;
    if (key == "b.com") return std::string("2");
    return fail(Errc::kNotFound, "");
  };
  MatchList l = parse("inline:{a.com=1, b.com=2}, c.com", false, lookup);
  EXPECT_TRUE(*l.match_domain("b.com"));
  EXPECT_EQ(seen, "inline:{a.com=1, b.com=2}");
  EXPECT_TRUE(*l.match_domain("c.com"));
}

TEST(MatchList, TablesNeedALookup) {
  MatchListOptions o;
  o.param_name = "mydestination";
  auto r = MatchList::parse("hash:/x", o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().text.find("mydestination"), std::string::npos);
}

TEST(MatchList, AddressesAndNetworks) {
  MatchList l = parse("127.0.0.0/8 [::1]/128 192.168.1.5, [2001:db8::]/32");
  EXPECT_TRUE(*l.match_address("127.3.4.5"));
  EXPECT_TRUE(*l.match_address("::1"));
  EXPECT_TRUE(*l.match_address("192.168.1.5"));
  EXPECT_FALSE(*l.match_address("192.168.1.6"));
  EXPECT_TRUE(*l.match_address("2001:db8::25"));
  EXPECT_FALSE(*l.match_address("2001:db9::25"));
  EXPECT_FALSE(*l.match_address("not-an-address"));
  EXPECT_FALSE(*l.match_address(""));
}

TEST(MatchList, BadNetworkPatternIsAnErrorNamingTheList) {
  MatchListOptions o;
  o.param_name = "mynetworks";
  auto r = MatchList::parse("10.1.2.3/8", o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().text.find("mynetworks: bad net/mask pattern: \"10.1.2.3/8\""),
            std::string::npos)
      << r.error().text;
}

TEST(MatchList, ClientListsMatchNameOrAddress) {
  MatchList l = parse("!spam.example.com, .example.com, 10.0.0.0/8");
  EXPECT_TRUE(*l.match_client("mail.example.com", "192.0.2.1"));
  EXPECT_TRUE(*l.match_client("unknown", "10.9.9.9"));
  EXPECT_FALSE(*l.match_client("spam.example.com", "10.9.9.9"));
  EXPECT_FALSE(*l.match_client("unknown", "192.0.2.1"));
}

TEST(MatchList, FilesHoldMoreElementsAndComments) {
  auto dir = std::filesystem::temp_directory_path() / "match_list_test";
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "inner") << "# comment\n  deep.org\n";
    std::ofstream(dir / "outer") << "a.org b.org\n\n" << (dir / "inner").string() << "\n";
  }
  MatchList l = parse("!c.org " + (dir / "outer").string());
  EXPECT_TRUE(*l.match_domain("a.org"));
  EXPECT_TRUE(*l.match_domain("deep.org"));
  EXPECT_FALSE(*l.match_domain("c.org"));
  MatchList negated = parse("!" + (dir / "outer").string() + " .org");
  EXPECT_FALSE(*negated.match_domain("b.org"));
  EXPECT_TRUE(*negated.match_domain("x.b.org"));

  MatchListOptions o;
  o.param_name = "relay_domains";
  auto missing = MatchList::parse((dir / "missing").string(), o);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().text.find((dir / "missing").string()), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(MatchList, StringsCompareWithoutCase) {
  MatchList l = parse("smtpd, !smtp, SMTP");
  EXPECT_TRUE(*l.match_string("SMTPD"));
  EXPECT_FALSE(*l.match_string("smtp"));
}

}  // namespace
}  // namespace postern
