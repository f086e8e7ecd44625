#include "global/record.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "global/rec_type.h"
#include "test_dir.h"
#include "util/unique_fd.h"

namespace postern {
namespace {

using testing::TempDir;

UniqueFd file_with(const TempDir& dir, const std::string& bytes) {
  std::string path = dir.path() + "/f";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600));
  EXPECT_EQ(::write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

TEST(Record, EncodesLengthLeastSignificantGroupFirst) {
  EXPECT_EQ(encode_record('N', ""), std::string("N\0", 2));
  EXPECT_EQ(encode_record('N', std::string(127, 'a')).substr(0, 2), "N\x7f");
  // 312 = 0b10_0111000 -> b8 02, as in Postfix's files.
  EXPECT_EQ(encode_record('A', std::string(312, 'a')).substr(0, 3), "A\xb8\x02");
  EXPECT_EQ(record_size(312), 315u);
  EXPECT_EQ(record_size(0), 2u);
  EXPECT_EQ(record_size(16384), 16384u + 4);
}

TEST(Record, RoundTripThroughWriterAndReader) {
  TempDir dir;
  std::string path = dir.path() + "/q";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT, 0600));
  std::vector<std::pair<int, std::string>> in = {
      {'T', "1795439462 559057"}, {'S', ""}, {'R', "a@b"}, {'M', ""},
      {'N', std::string(100000, 'x')}, {'N', std::string("bin\0ary\xff", 8)}, {'X', ""}, {'E', ""}};
  RecordWriter w(fd.get());
  std::vector<off_t> offsets;
  for (auto& [t, d] : in) offsets.push_back(w.put(t, d));
  ASSERT_TRUE(w.flush());
  RecordReader r(fd.get(), path);
  for (size_t i = 0; i < in.size(); ++i) {
    auto rec = r.next();
    ASSERT_TRUE(rec) << rec.error().text;
    ASSERT_TRUE(*rec);
    EXPECT_EQ((*rec)->type, in[i].first);
    EXPECT_EQ((*rec)->data, in[i].second);
    EXPECT_EQ((*rec)->offset, offsets[i]);
  }
  auto eof = r.next();
  ASSERT_TRUE(eof);
  EXPECT_FALSE(*eof);
}

TEST(Record, OverwriteInBufferAndOnDisk) {
  TempDir dir;
  UniqueFd fd = file_with(dir, "");
  RecordWriter w(fd.get());
  off_t a = w.put('R', "one");
  ASSERT_TRUE(w.overwrite(a, "D"));  // still buffered
  ASSERT_TRUE(w.flush());
  off_t b = w.put('R', "two");
  ASSERT_TRUE(w.flush());
  ASSERT_TRUE(w.overwrite(b, "/"));  // on disk
  RecordReader r(fd.get(), "f");
  EXPECT_EQ((*r.next())->type, 'D');
  EXPECT_EQ((*r.next())->type, '/');
}

TEST(Record, TruncatedDataIsAnEofError) {
  TempDir dir;
  std::string full = encode_record('A', std::string(21, 'a'));
  UniqueFd fd = file_with(dir, full.substr(0, full.size() - 3));
  RecordReader r(fd.get(), "f");
  auto rec = r.next();
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, Errc::kEof);
  EXPECT_EQ(rec.error().text, "unexpected EOF in data, record type 65 length 21");
}

TEST(Record, TruncatedLengthIsAnEofError) {
  TempDir dir;
  UniqueFd fd = file_with(dir, "N\x80");
  RecordReader r(fd.get(), "f");
  auto rec = r.next();
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().text, "unexpected EOF reading length, record type 78");
}

TEST(Record, CorruptLengths) {
  TempDir dir;
  {
    UniqueFd fd = file_with(dir, "N\xff\xff\xff\xff\xff\x01");
    RecordReader r(fd.get(), "f");
    auto rec = r.next();
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().text, "too many length bits, record type 78");
  }
  {
    UniqueFd fd = file_with(dir, "N\xff\xff\xff\xff\x0f");
    RecordReader r(fd.get(), "f");
    auto rec = r.next();
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().text, "illegal length -1, record type 78");
  }
  {
    // A length far beyond the file: an EOF error, without allocating it.
    UniqueFd fd = file_with(dir, "N\xff\xff\xff\xff\x07" "abc");
    RecordReader r(fd.get(), "f");
    auto rec = r.next();
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().text, "unexpected EOF in data, record type 78 length 2147483647");
  }
}

TEST(Record, SizeLimit) {
  TempDir dir;
  UniqueFd fd = file_with(dir, encode_record('N', std::string(5000, 'a')));
  RecordReader r(fd.get(), "f", 4096);
  auto rec = r.next();
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, Errc::kTooLarge);
}

TEST(Record, FollowsPointersAndSkipsPadding) {
  TempDir dir;
  // N a, p -> past "skipped", N skipped, N target, w padding, E
  std::string head = encode_record('N', "a");
  std::string skipped = encode_record('N', "skipped");
  off_t target = static_cast<off_t>(head.size() + record_size(15) + skipped.size());
  std::string bytes = head + encode_record('p', fmt::format("{:15}", target)) + skipped +
                      encode_record('N', "target") + encode_record('p', fmt::format("{:15}", 0)) +
                      encode_record('w', "       ") + encode_record('E', "");
  UniqueFd fd = file_with(dir, bytes);
  RecordReader r(fd.get(), "f", 0, RecordReader::Mode::kFollowPointers);
  std::string seen;
  for (;;) {
    auto rec = r.next();
    ASSERT_TRUE(rec) << rec.error().text;
    if (!*rec) break;
    seen += static_cast<char>((*rec)->type);
    seen += (*rec)->data;
    seen += ",";
  }
  EXPECT_EQ(seen, "Na,Ntarget,E,");
}

TEST(Record, PointerLoopAndMalformedPointerAreErrors) {
  TempDir dir;
  {
    UniqueFd fd = file_with(dir, encode_record('p', fmt::format("{:15}", 0 + 0)) +
                                     encode_record('p', fmt::format("{:15}", 17)));
    RecordReader r(fd.get(), "f", 0, RecordReader::Mode::kFollowPointers);
    auto rec = r.next();
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().text, "too many reverse jump records");
  }
  {
    UniqueFd fd = file_with(dir, encode_record('p', "junk"));
    RecordReader r(fd.get(), "f", 0, RecordReader::Mode::kFollowPointers);
    auto rec = r.next();
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().text, "malformed pointer record value: junk");
  }
}

// Random bytes never crash the reader; every run ends in EOF or an error.
TEST(Record, RandomBytesEndInEofOrError) {
  TempDir dir;
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    std::string bytes(rng() % 200, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng() % 4 == 0 ? 'p' : rng());
    UniqueFd fd = file_with(dir, bytes);
    RecordReader r(fd.get(), "f", 1000, RecordReader::Mode::kFollowPointers);
    int n = 0;
    for (; n < 100000; ++n) {
      auto rec = r.next();
      if (!rec || !*rec) break;
    }
    EXPECT_LT(n, 100000);
  }
}

TEST(RecType, Names) {
  EXPECT_EQ(rec::type_name('C'), "message_size");
  EXPECT_EQ(rec::type_name('D'), "done_recipient");
  EXPECT_EQ(rec::type_name('L'), "content_filter");
  EXPECT_EQ(rec::type_name('d'), "unknown_record_type");
}

}  // namespace
}  // namespace postern
