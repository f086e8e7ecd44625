#include "cleanup/actions.h"

#include <gtest/gtest.h>

#include "cleanup/address_maps.h"
#include "maps/address_lookup.h"

namespace postern::cleanup {
namespace {

TEST(Actions, ParsesWordsCaseInsensitively) {
  std::string err;
  auto a = parse_action("reject  go away ", &err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, ActionKind::kReject);
  EXPECT_EQ(a->text, "go away");
  EXPECT_EQ(parse_action("HOLD", &err)->kind, ActionKind::kHold);
  EXPECT_EQ(parse_action("DUNNO", &err)->kind, ActionKind::kDunno);
  EXPECT_EQ(parse_action("OK", &err)->kind, ActionKind::kDunno);
  EXPECT_EQ(parse_action("PREPEND X-Seen: yes", &err)->text, "X-Seen: yes");
  EXPECT_EQ(parse_action("FILTER smtp:[127.0.0.1]:10025", &err)->kind, ActionKind::kFilter);
}

TEST(Actions, RejectsUnknownAndIncomplete) {
  std::string err;
  EXPECT_FALSE(parse_action("EXPLODE now", &err));
  EXPECT_NE(err.find("unknown action"), std::string::npos);
  EXPECT_FALSE(parse_action("PREPEND", &err));
  EXPECT_FALSE(parse_action("REDIRECT", &err));
  EXPECT_FALSE(parse_action("FILTER nocolon", &err));
}

TEST(Actions, RejectReason) {
  EXPECT_EQ(reject_reason(""), "5.7.1 message content rejected");
  EXPECT_EQ(reject_reason("go away"), "5.7.1 go away");
  EXPECT_EQ(reject_reason("4.7.0 later"), "4.7.0 later");
  EXPECT_EQ(reject_reason("5.7.9 no"), "5.7.9 no");
  EXPECT_EQ(reject_reason("5.7 no"), "5.7.1 5.7 no");
}

TEST(Masquerade, StripsHostPartsBelowTheDomain) {
  MasqueradeSettings s{{"!secret.example.com", "example.com"}, {"root"}};
  EXPECT_EQ(masquerade(s, "joe@host.sub.example.com"), "joe@example.com");
  EXPECT_EQ(masquerade(s, "joe@example.com"), "joe@example.com");
  EXPECT_EQ(masquerade(s, "joe@host.secret.example.com"), "joe@host.secret.example.com");
  EXPECT_EQ(masquerade(s, "root@host.example.com"), "root@host.example.com");
  EXPECT_EQ(masquerade(s, "joe@notexample.com"), "joe@notexample.com");
  EXPECT_EQ(masquerade(s, "joe"), "joe");
}

maps::MapList inline_map(const std::string& spec) {
  auto l = maps::MapList::open("virtual_alias_maps", spec);
  EXPECT_TRUE(l) << (l ? "" : l.error().text);
  return l ? std::move(*l) : maps::MapList{};
}

TEST(Virtual, ExpandsRecursivelyAndKeepsSelfReferences) {
  auto m = inline_map(
      "inline:{ {list@example.com = a@example.com, b@example.com}, "
      "{a@example.com = a@example.com, c@example.net}, {b@example.com = d@example.org} }");
  maps::AddressLookupOptions opt;
  auto r = expand_virtual(m, "list@example.com", opt, {}, nullptr, true);
  ASSERT_TRUE(r) << r.error().text;
  EXPECT_EQ(*r, (std::vector<std::string>{"a@example.com", "c@example.net", "d@example.org"}));
  auto none = expand_virtual(m, "other@example.com", opt, {}, nullptr, true);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, std::vector<std::string>{"other@example.com"});
}

TEST(Virtual, LimitsFanOutAndNesting) {
  auto m = inline_map("inline:{ {big@x = a@x, b@x, c@x}, {l1@x = l2@x}, {l2@x = l3@x}, {l3@x = l4@x} }");
  maps::AddressLookupOptions opt;
  auto big = expand_virtual(m, "big@x", opt, VirtualLimits{1000, 2}, nullptr, true);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().text, "unreasonable virtual_alias_maps map expansion size for big@x");
  auto deep = expand_virtual(m, "l1@x", opt, VirtualLimits{2, 1000}, nullptr, true);
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().text, "unreasonable virtual_alias_maps map nesting for l1@x");
  auto ok = expand_virtual(m, "l1@x", opt, VirtualLimits{3, 1000}, nullptr, true);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, std::vector<std::string>{"l4@x"});
}

TEST(Virtual, LoopsEndWithoutHanging) {
  auto m = inline_map("inline:{ {a@x = b@x}, {b@x = a@x} }");
  maps::AddressLookupOptions opt;
  auto r = expand_virtual(m, "a@x", opt, {}, nullptr, true);
  ASSERT_TRUE(r) << r.error().text;
  EXPECT_EQ(r->size(), 1u);
}

TEST(Canonical, PropagatesUnmatchedExtension) {
  auto m = inline_map("inline:{ {joe@example.com = joseph@example.org} }");
  maps::AddressLookupOptions opt;
  opt.recipient_delimiter = "+";
  auto r = canonical_lookup(m, "joe+news@example.com", opt, true);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "joseph+news@example.org");
  EXPECT_EQ(*canonical_lookup(m, "joe+news@example.com", opt, false), "joseph@example.org");
  EXPECT_EQ(*canonical_lookup(m, "ann@example.com", opt, true), "ann@example.com");
}

}  // namespace
}  // namespace postern::cleanup
