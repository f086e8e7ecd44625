#include "global/expand.h"

#include <gtest/gtest.h>

#include <map>

namespace postern {
namespace {

class ExpandTest : public ::testing::Test {
 protected:
  std::map<std::string, std::string, std::less<>> vars{
      {"mydomain", "dom"}, {"myhostname", "h"}, {"empty", ""},
      {"chain", "$mydomain.x"}, {"rec", "$rec2"}, {"rec2", "${rec}"},
      {"compatibility_level", "3.6"}};
  ParamLookup lookup = [this](std::string_view n) -> std::optional<std::string> {
    auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  std::string ok(std::string_view text) {
    auto r = expand_value(text, lookup);
    EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error().text);
    return r.value_or("<error>");
  }
  std::string err(std::string_view text) {
    auto r = expand_value(text, lookup);
    EXPECT_FALSE(r) << text;
    return r ? "" : r.error().text;
  }
};

TEST_F(ExpandTest, PlainReferencesInAllThreeForms) {
  EXPECT_EQ(ok("x${myhostname}y$myhostname.z"), "xhyh.z");
  EXPECT_EQ(ok("$(mydomain)"), "dom");
  EXPECT_EQ(ok("${ mydomain}"), "dom");
  EXPECT_EQ(ok("$chain"), "dom.x");
  EXPECT_EQ(ok("$$x"), "$x");
  EXPECT_EQ(ok("no refs"), "no refs");
}

TEST_F(ExpandTest, UndefinedIsEmptyAndReported) {
  std::vector<std::string> undefined;
  ExpandOptions options;
  options.undefined = &undefined;
  auto r = expand_value("$a-b", lookup, options);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "-b");
  ASSERT_EQ(undefined.size(), 1u);
  EXPECT_EQ(undefined[0], "a");
}

TEST_F(ExpandTest, Conditionals) {
  EXPECT_EQ(ok("${nosuch:fallback} ${mydomain?set}"), "fallback set");
  EXPECT_EQ(ok("${mydomain?{yes $mydomain}:{no}}"), "yes dom");
  EXPECT_EQ(ok("${empty?{yes}:{no}}"), "no");
  EXPECT_EQ(ok("${empty:unset}"), "unset");
  EXPECT_EQ(ok("${mydomain:unset}"), "");
  EXPECT_EQ(ok("${mydomain?}"), "");
  EXPECT_EQ(ok("${mydomain ? {x}}"), "x");
}

TEST_F(ExpandTest, RelationalExpressions) {
  EXPECT_EQ(ok("${{x} == {x} ? {eq} : {ne}}"), "eq");
  EXPECT_EQ(ok("${{x} != {x} ? {eq} : {ne}}"), "ne");
  EXPECT_EQ(ok("${{3} < {10} ? {lt} : {ge}}"), "lt");
  EXPECT_EQ(ok("${{3.6} <level {3.10} ? {lt} : {ge}}"), "lt");
  EXPECT_EQ(ok("${{x}=={x}?{eq}:{ne}}"), "eq");
  EXPECT_EQ(ok("${{x} == {x} ? {eq}}"), "eq");
  EXPECT_EQ(ok("${{x} == {y} ? {eq}}"), "");
  EXPECT_EQ(ok("${{$compatibility_level} <level {2} ? {subnet} : {host}}"), "host");
}

TEST_F(ExpandTest, SyntaxErrorsNameTheProblem) {
  EXPECT_EQ(err("${foo"), "truncated macro reference: \"${foo\"");
  EXPECT_EQ(err("a$"), "empty macro name: \"a$\"");
  EXPECT_EQ(err("a$ b"), "empty macro name: \"a$ b\"");
  EXPECT_NE(err("${a-b}").find("attribute name syntax error"), std::string::npos);
  EXPECT_NE(err("${mydomain:{a}:{b}}").find("unexpected input"), std::string::npos);
  EXPECT_NE(err("${{x} ?? {y}}").find("expected at"), std::string::npos);
  EXPECT_NE(err("${{a} < {2} ? {x}}").find("non-numeric"), std::string::npos);
}

TEST_F(ExpandTest, RecursionIsAnErrorNotACrash) {
  EXPECT_EQ(err("$rec"), "unreasonable macro call nesting: \"rec\"");
}

TEST(ReferencedNames, FindsNamesInBothBranches) {
  auto names = referenced_names("${a?{$b}:{$c}} $d ${e:x} $$f");
  std::vector<std::string> want{"a", "b", "c", "d", "e"};
  EXPECT_EQ(names, want);
}

TEST(CompatibilityLevels, CompareNumerically) {
  EXPECT_LT(compare_compatibility_levels("3.6", "3.10"), 0);
  EXPECT_EQ(compare_compatibility_levels("2", "2.0.0"), 0);
  EXPECT_GT(compare_compatibility_levels("3.6", "2"), 0);
}

}  // namespace
}  // namespace postern
