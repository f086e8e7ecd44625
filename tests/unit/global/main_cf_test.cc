#include "global/main_cf.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

TEST(MainCf, ContinuationsCommentsAndLastDefinitionWins) {
  auto entries = parse_main_cf(
      "# head\nmyhostname = a.example\n# comment inside\n  continued\n\nmydomain=x.y \n"
      "mydomain = z\n",
      "main.cf");
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].name, "myhostname");
  EXPECT_EQ((*entries)[0].value, "a.example  continued");
  EXPECT_EQ((*entries)[0].line, 2);
  EXPECT_EQ((*entries)[1].value, "x.y");
  EXPECT_EQ((*entries)[2].line, 7);
}

TEST(MainCf, MissingEqualsNamesFileAndLine) {
  auto entries = parse_main_cf("a = 1\n\nfoo\n", "/etc/postfix/main.cf");
  ASSERT_FALSE(entries);
  EXPECT_EQ(entries.error().text,
            "/etc/postfix/main.cf, line 3: missing '=' after attribute name: \"foo\"");
}

TEST(MainCf, EmptyValueAndCrLf) {
  auto entries = parse_main_cf("relayhost =\r\nmynetworks = 127.0.0.0/8\r\n", "m");
  ASSERT_TRUE(entries);
  EXPECT_EQ((*entries)[0].value, "");
  EXPECT_EQ((*entries)[1].value, "127.0.0.0/8");
}

const char* kSample =
    "# head\nmyhostname = a\n  cont1\n# mid comment\n  cont2\n\nmydomain = d   \n# tail\n"
    "myorigin = o\n";

TEST(MainCfEdit, SetReplacesInPlaceAndAppendsInArgumentOrder) {
  MainCfEdit e;
  e.values = {{"myhostname", "NEW"}, {"relayhost", "[r]:587"}, {"alpha", "1"}};
  EXPECT_EQ(edit_main_cf(kSample, e),
            "# head\nmyhostname = NEW\n# mid comment\n\nmydomain = d   \n# tail\nmyorigin = o\n"
            "relayhost = [r]:587\nalpha = 1\n");
}

TEST(MainCfEdit, CommentOutEveryLineOfTheEntry) {
  MainCfEdit e;
  e.action = MainCfEdit::Action::kCommentOut;
  e.values = {{"myhostname", ""}, {"mydomain", ""}};
  EXPECT_EQ(edit_main_cf(kSample, e),
            "# head\n#myhostname = a\n#  cont1\n# mid comment\n#  cont2\n\n#mydomain = d   \n"
            "# tail\nmyorigin = o\n");
}

TEST(MainCfEdit, RemoveKeepsComments) {
  MainCfEdit e;
  e.action = MainCfEdit::Action::kRemove;
  e.values = {{"myhostname", ""}, {"nosuch", ""}};
  EXPECT_EQ(edit_main_cf(kSample, e),
            "# head\n# mid comment\n\nmydomain = d   \n# tail\nmyorigin = o\n");
}

}  // namespace
}  // namespace postern
