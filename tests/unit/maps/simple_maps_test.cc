// static, fail, environ, inline, texthash, unix, proxy, and open_map errors.
#include <stdlib.h>

#include "global/map_types.h"
#include "test_util.h"

namespace postern::maps::testing {
namespace {

TEST(OpenMap, SpecErrors) {
  auto m = open_map("nosuchtype:/x");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().text, "unsupported dictionary type: nosuchtype");
  auto bare = open_map("static:");
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().text, "open dictionary: expecting \"type:name\" form instead of \"static:\"");
  EXPECT_FALSE(open_map("/etc/postfix/virtual"));
}

TEST(OpenMap, EveryListedTypeOpens) {
  // postconf -m lists exactly what open_map accepts.
  for (std::string_view t : supported_map_types()) {
    auto m = open_map(std::string(t) + ":/nonexistent/x");
    if (!m) {
      EXPECT_NE(m.error().text.find("unsupported dictionary type"), 0u) << t;
    }
  }
}

TEST(Static, AlwaysTheValue) {
  auto m = must_open("static:{ two words }");
  EXPECT_EQ(q(*m, "anything"), "two words");
  auto n = must_open("static:5000");
  EXPECT_EQ(q(*n, "x"), "5000");
}

TEST(Fail, AlwaysTemporary) {
  auto m = must_open("fail:oops");
  auto v = m->lookup("x");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kTemporary);
}

TEST(Environ, LooksUpVariables) {
  ::setenv("POSTERN_MAPS_TEST", "yes", 1);
  auto m = must_open("environ:x", kTryNull);
  EXPECT_EQ(q(*m, "POSTERN_MAPS_TEST"), "yes");
  EXPECT_EQ(q(*m, "POSTERN_MAPS_TEST_UNSET"), "<not found>");
}

TEST(Inline, Syntax) {
  auto m = must_open("inline:{a=1, B=two, { c = x, y }}");
  EXPECT_EQ(q(*m, "a"), "1");
  EXPECT_EQ(q(*m, "b"), "two");
  EXPECT_EQ(q(*m, "C"), "x, y");
  std::vector<std::string> keys;
  ASSERT_TRUE(m->sequence([&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  }));
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(open_map("inline:{a}").error().text,
            "missing '=' after attribute name: \"inline:{a}\"; need \"inline:{name=value...}\"");
  EXPECT_EQ(open_map("inline:{a=1").error().text,
            "bad syntax: \"inline:{a=1\"; need \"inline:{name=value...}\"");
}

TEST(Texthash, ReadsPostmapSource) {
  ScratchDir dir;
  auto m = must_open("texthash:" + dir.write("t", "Key.One v1\nkey2 v2\n cont\nnovalue\nkey2 dup\n"));
  EXPECT_EQ(q(*m, "KEY.ONE"), "v1");
  EXPECT_EQ(q(*m, "key2"), "v2 cont");
  EXPECT_EQ(q(*m, "novalue"), "<not found>");
}

TEST(Unix, PasswdAndGroup) {
  auto pw = must_open("unix:passwd.byname");
  EXPECT_TRUE(q(*pw, "root").starts_with("root:")) << q(*pw, "root");
  EXPECT_EQ(q(*pw, "no-such-user-here"), "<not found>");
  auto gr = must_open("unix:group.byname");
  EXPECT_TRUE(q(*gr, "root").starts_with("root:")) << q(*gr, "root");
  EXPECT_FALSE(open_map("unix:shadow.byname"));
}

TEST(Proxy, OpensTheInnerTable) {
  auto m = must_open("proxy:static:{inner}");
  EXPECT_EQ(q(*m, "x"), "inner");
  ScratchDir dir;
  auto p = must_open("proxy:texthash:" + dir.write("t", "a b\n"));
  EXPECT_EQ(q(*p, "A"), "b");
}

TEST(Composite, UnionPipeRand) {
  auto u = must_open("unionmap:{inline:{a=1}, inline:{A=2, b=3}, static:s}");
  EXPECT_EQ(q(*u, "a"), "1,2,s");
  auto p = must_open("pipemap:{inline:{a=x}, inline:{x=y}}");
  EXPECT_EQ(q(*p, "A"), "y");
  EXPECT_EQ(q(*p, "b"), "<not found>");
  auto r = must_open("randmap:{x, {y z}}");
  for (int i = 0; i < 20; ++i) {
    std::string v = q(*r, "k");
    EXPECT_TRUE(v == "x" || v == "y z") << v;
  }
  auto f = must_open("unionmap:{inline:{a=1}, fail:x}");
  EXPECT_EQ(f->lookup("a").error().code, Errc::kTemporary);
  EXPECT_FALSE(open_map("unionmap:inline:{a=1}"));
  EXPECT_FALSE(open_map("randmap:{}"));
}

TEST(Internal, UpdateLookupRemove) {
  auto m = must_open("internal:test", kFoldFixed | kDupReplace);
  EXPECT_EQ(q(*m, "a"), "<not found>");
  ASSERT_TRUE(m->update("A", "1"));
  ASSERT_TRUE(m->update("b", "2"));
  ASSERT_TRUE(m->update("a", "3"));
  EXPECT_EQ(q(*m, "a"), "3");
  EXPECT_TRUE(m->remove("a"));
  EXPECT_EQ(q(*m, "a"), "<not found>");
  EXPECT_EQ(q(*m, "b"), "2");
  int n = 0;
  ASSERT_TRUE(m->sequence([&](std::string_view, std::string_view) { return ++n > 0; }));
  EXPECT_EQ(n, 1);
}

TEST(ReadOnlyTypes, RefuseUpdates) {
  auto m = must_open("static:x");
  auto u = m->update("a", "b");
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, Errc::kPermanent);
  EXPECT_EQ(m->remove("a").error().code, Errc::kPermanent);
}

}  // namespace
}  // namespace postern::maps::testing
