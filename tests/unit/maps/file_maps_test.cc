// hash, btree and lmdb tables: create, lookup, NUL conventions, folding,
// duplicates, delete, dump, atomic replacement.
#include <db.h>
#include <sys/stat.h>

#include <map>

#include "maps/map_source.h"
#include "test_util.h"

namespace postern::maps::testing {
namespace {

class IndexedMapTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string spec() const { return GetParam() + ":" + dir_.path() + "/table"; }
  std::string file() const { return map_file_path(GetParam(), dir_.path() + "/table"); }
  ScratchDir dir_;
};

TEST_P(IndexedMapTest, CreateLookupFoldAndDump) {
  {
    auto m = must_open(spec(), kCreate | kFoldFixed | kTryNull | kTryNoNull | kDupWarn);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->update("Key.One", "Value One").value(), UpdateOutcome::kStored);
    EXPECT_EQ(m->update("key.one", "other").value(), UpdateOutcome::kDuplicateKept);
    EXPECT_EQ(m->update("two", "2").value(), UpdateOutcome::kStored);
    // Nothing is visible under the real name before commit.
    EXPECT_FALSE(std::filesystem::exists(file()));
    ASSERT_TRUE(m->commit());
  }
  EXPECT_TRUE(std::filesystem::exists(file()));
  EXPECT_FALSE(std::filesystem::exists(temp_path_for(file())));
  auto m = must_open(spec());
  EXPECT_EQ(q(*m, "KEY.ONE"), "Value One");
  EXPECT_EQ(q(*m, "two"), "2");
  EXPECT_EQ(q(*m, "three"), "<not found>");
  std::map<std::string, std::string> seen;
  ASSERT_TRUE(m->sequence([&](std::string_view k, std::string_view v) {
    seen[std::string(k)] = v;
    return true;
  }));
  EXPECT_EQ(seen, (std::map<std::string, std::string>{{"key.one", "Value One"}, {"two", "2"}}));
  // Without folding the stored (lower-case) key must be given exactly.
  auto exact = must_open(spec(), kTryNull | kTryNoNull);
  EXPECT_EQ(q(*exact, "KEY.ONE"), "<not found>");
  EXPECT_EQ(q(*exact, "key.one"), "Value One");
}

TEST_P(IndexedMapTest, ReplaceDeleteAndWithoutNul) {
  {
    auto m = must_open(spec(), kCreate | kTryNoNull | kDupReplace);
    ASSERT_TRUE(m->update("a", "1"));
    ASSERT_TRUE(m->update("a", "2"));
    ASSERT_TRUE(m->commit());
  }
  {
    auto m = must_open(spec());
    EXPECT_EQ(q(*m, "a"), "2");
  }
  {
    auto m = must_open(spec(), kWrite | kTryNull | kTryNoNull);
    EXPECT_TRUE(m->remove("a"));
    EXPECT_EQ(m->remove("a").error().code, Errc::kNotFound);
    ASSERT_TRUE(m->update("b", "3"));
    ASSERT_TRUE(m->commit());
  }
  auto m = must_open(spec());
  EXPECT_EQ(q(*m, "a"), "<not found>");
  EXPECT_EQ(q(*m, "b"), "3");
}

TEST_P(IndexedMapTest, MissingFileIsNotFound) {
  auto m = open_map(spec());
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::kNotFound);
  EXPECT_NE(m.error().text.find("open database " + file()), std::string::npos) << m.error().text;
}

TEST_P(IndexedMapTest, WriterWithoutCommitLeavesOldTable) {
  {
    auto m = must_open(spec(), kCreate | kTryNull);
    ASSERT_TRUE(m->update("old", "1"));
    ASSERT_TRUE(m->commit());
  }
  {
    auto m = must_open(spec(), kCreate | kTryNull);
    ASSERT_TRUE(m->update("new", "1"));
  }  // destroyed without commit
  auto m = must_open(spec());
  EXPECT_EQ(q(*m, "old"), "1");
  EXPECT_EQ(q(*m, "new"), "<not found>");
  EXPECT_FALSE(std::filesystem::exists(temp_path_for(file())));
}

TEST_P(IndexedMapTest, ChangedAfterReplacement) {
  {
    auto m = must_open(spec(), kCreate | kTryNull);
    ASSERT_TRUE(m->commit());
  }
  auto reader = must_open(spec());
  EXPECT_FALSE(reader->changed());
  {
    auto m = must_open(spec(), kCreate | kTryNull);
    ASSERT_TRUE(m->update("x", "y"));
    ASSERT_TRUE(m->commit());
  }
  EXPECT_TRUE(reader->changed());
}

TEST_P(IndexedMapTest, ManyKeysGrowTheMap) {
  {
    auto m = must_open(spec(), kCreate | kTryNull);
    std::string big(200, 'v');
    for (int i = 0; i < 100000; ++i) ASSERT_TRUE(m->update("key" + std::to_string(i), big));
    ASSERT_TRUE(m->commit());
  }
  auto m = must_open(spec());
  EXPECT_EQ(q(*m, "key99999").size(), 200u);
}

INSTANTIATE_TEST_SUITE_P(Types, IndexedMapTest, ::testing::Values("hash", "btree", "lmdb"));

TEST(LmdbMap, ReaderSeesInPlaceUpdates) {
  ScratchDir dir;
  std::string spec = "lmdb:" + dir.path() + "/t";
  {
    auto m = must_open(spec, kCreate | kTryNull);
    ASSERT_TRUE(m->update("a", "1"));
    ASSERT_TRUE(m->commit());
  }
  auto reader = must_open(spec);
  EXPECT_EQ(q(*reader, "a"), "1");
  {
    auto w = must_open(spec, kWrite | kTryNull | kTryNoNull);
    ASSERT_TRUE(w->update("b", "2"));
    ASSERT_TRUE(w->remove("a"));
    ASSERT_TRUE(w->commit());
  }
  EXPECT_EQ(q(*reader, "b"), "2");
  EXPECT_EQ(q(*reader, "a"), "<not found>");
  EXPECT_TRUE(reader->changed());
}

TEST(HashMap, StoresTrailingNulAsPostfixDoes) {
  ScratchDir dir;
  {
    auto m = must_open("hash:" + dir.path() + "/t", kCreate | kTryNull | kTryNoNull | kFoldFixed);
    ASSERT_TRUE(m->update("k", "v"));
    ASSERT_TRUE(m->commit());
  }
  DB* db = nullptr;
  ASSERT_EQ(db_create(&db, nullptr, 0), 0);
  ASSERT_EQ(db->open(db, nullptr, (dir.path() + "/t.db").c_str(), nullptr, DB_HASH, DB_RDONLY, 0), 0);
  DBT key{}, value{};
  key.data = const_cast<char*>("k");
  key.size = 2;  // with the NUL
  ASSERT_EQ(db->get(db, nullptr, &key, &value, 0), 0);
  EXPECT_EQ(std::string(static_cast<char*>(value.data), value.size), std::string("v\0", 2));
  db->close(db, 0);
}

TEST(MapSource, LogicalLinesAndContinuations) {
  ScratchDir dir;
  std::string p = dir.write("src", "# comment\nkey1 value\n  continued\n\n   \nkey2\tv2  \n\t# not a comment inside\nkey3 x\n");
  auto lines = read_logical_lines(p);
  ASSERT_TRUE(lines);
  ASSERT_EQ(lines->size(), 3u);
  EXPECT_EQ((*lines)[0].number, 2);
  EXPECT_EQ((*lines)[0].text, "key1 value  continued");
  EXPECT_EQ((*lines)[1].text, "key2\tv2");
  EXPECT_EQ((*lines)[2].number, 8);
  KeyValue kv = split_key_value((*lines)[1].text);
  EXPECT_EQ(kv.key, "key2");
  EXPECT_EQ(kv.value, "v2");
  EXPECT_EQ(read_logical_lines(dir.path() + "/nope").error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace postern::maps::testing
