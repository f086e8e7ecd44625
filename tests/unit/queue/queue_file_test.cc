#include "global/queue_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "global/mail_queue.h"
#include "global/rec_type.h"
#include "test_dir.h"

namespace postern {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

const std::string kData = std::string(POSTERN_SOURCE_DIR) + "/tests/data/queue";

std::string sample(const std::string& prefix) {
  for (const auto& e : fs::directory_iterator(kData)) {
    if (e.path().filename().string().starts_with(prefix + "-")) return e.path().string();
  }
  ADD_FAILURE() << "no sample " << prefix;
  return "";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a message the way cleanup does and returns the file's path.
std::string write_message(const MailQueue& q, std::string* id_out = nullptr, off_t* rcpt2 = nullptr) {
  auto f = q.create("incoming");
  EXPECT_TRUE(f);
  QueueFileWriter w(f->fd.get());
  w.size_record();
  w.time(1795439462, 559057);
  w.attr("create_time", "1795439462");
  w.attr("rewrite_context", "local");
  w.sender("alice@client.test");
  w.attr("dsn_orig_rcpt", "rfc822;bob@dest.test");
  w.recipient("bob@dest.test", "bob@dest.test");
  w.attr("notify_flags", "10");
  off_t r2 = w.recipient("carol@dest.test");
  if (rcpt2) *rcpt2 = r2;
  w.message_start();
  w.content_line("Subject: test");
  w.content_line("");
  w.content_line(std::string(5000, 'x'));
  w.content_line("end");
  w.extracted_start();
  w.end();
  EXPECT_TRUE(w.commit(f->fd.get()));
  if (id_out) *id_out = f->id;
  return f->path;
}

MailQueue make_queue(const TempDir& dir) {
  for (auto q : {"incoming", "active", "deferred", "hold", "corrupt"}) fs::create_directories(dir.path() + "/" + q);
  return MailQueue({dir.path(), {"deferred", "defer"}, 1, false});
}

TEST(QueueFile, WriteThenRead) {
  TempDir dir;
  MailQueue q = make_queue(dir);
  off_t rcpt2 = 0;
  std::string path = write_message(q, nullptr, &rcpt2);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_TRUE(queue_file_complete(st.st_mode));

  auto info = read_queue_file(path);
  ASSERT_TRUE(info) << info.error().text;
  ASSERT_TRUE(info->size);
  EXPECT_EQ(info->size->rcpt_count, 2);
  EXPECT_EQ(info->size->data_offset, info->content_offset);
  EXPECT_EQ(info->size->content_size, info->extracted_offset - info->content_offset);
  EXPECT_EQ(info->size->content_length, info->size->content_size);
  EXPECT_EQ(info->arrival_sec, 1795439462);
  EXPECT_EQ(info->arrival_usec, 559057);
  EXPECT_EQ(info->create_time, 1795439462);
  EXPECT_EQ(info->sender, "alice@client.test");
  ASSERT_EQ(info->recipients.size(), 2u);
  EXPECT_EQ(info->recipients[0].address, "bob@dest.test");
  EXPECT_EQ(info->recipients[0].orig, "bob@dest.test");
  EXPECT_EQ(info->recipients[0].dsn_orcpt, "rfc822;bob@dest.test");
  EXPECT_EQ(info->recipients[1].notify_flags, 10);
  EXPECT_EQ(info->recipients[1].offset, rcpt2);
  EXPECT_TRUE(info->has_end);
  EXPECT_EQ(info->attr("rewrite_context"), "local");

  // The size record is 95 bytes of six %15ld fields.
  std::string bytes = slurp(path);
  EXPECT_EQ(bytes.substr(0, 2), "C_");
  EXPECT_EQ(bytes.substr(2, 95), info->size->format());
  // An over-long line became L records plus a final N.
  EXPECT_NE(bytes.find(encode_record('L', std::string(2048, 'x'))), std::string::npos);
  EXPECT_NE(bytes.find(encode_record('N', std::string(5000 - 4096, 'x'))), std::string::npos);
}

TEST(QueueFile, MarkRecipientDoneInPlace) {
  TempDir dir;
  MailQueue q = make_queue(dir);
  off_t rcpt2 = 0;
  std::string path = write_message(q, nullptr, &rcpt2);
  auto size_before = fs::file_size(path);
  UniqueFd fd(::open(path.c_str(), O_RDWR));
  ASSERT_TRUE(mark_recipient(fd.get(), rcpt2));
  EXPECT_FALSE(mark_recipient(fd.get(), rcpt2 + 1));  // not a recipient record
  EXPECT_FALSE(mark_recipient(fd.get(), 0));          // the size record
  EXPECT_EQ(fs::file_size(path), size_before);
  auto info = read_queue_file(path);
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->recipients[0].done());
  EXPECT_TRUE(info->recipients[1].done());
  EXPECT_EQ(info->recipients[1].status, 'D');
}

TEST(QueueFile, UncommittedFileIsNotComplete) {
  TempDir dir;
  MailQueue q = make_queue(dir);
  auto f = q.create("incoming");
  ASSERT_TRUE(f);
  QueueFileWriter w(f->fd.get());
  w.time(1, 0);
  ASSERT_TRUE(w.flush());
  struct stat st;
  ASSERT_EQ(::stat(f->path.c_str(), &st), 0);
  EXPECT_FALSE(queue_file_complete(st.st_mode));
  ASSERT_TRUE(w.commit(f->fd.get(), kQueueModeExpired));
  ASSERT_EQ(::stat(f->path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0710u);
}

TEST(QueueFile, ReadsFilesWrittenByPostfix) {
  auto hold = read_queue_file(sample("hold"));
  ASSERT_TRUE(hold) << hold.error().text;
  ASSERT_TRUE(hold->size);
  EXPECT_EQ(hold->size->content_size, 5426);
  EXPECT_EQ(hold->size->data_offset, 811);
  EXPECT_EQ(hold->size->rcpt_count, 2);
  EXPECT_EQ(hold->size->qmgr_flags, 20);
  EXPECT_EQ(hold->sender, "alice@client.test");
  ASSERT_EQ(hold->recipients.size(), 2u);
  EXPECT_EQ(hold->recipients[1].address, "carol@dest.test");
  EXPECT_EQ(hold->recipients[1].orig, "carol@dest.test");
  EXPECT_EQ(hold->recipients[1].notify_flags, 10);
  EXPECT_EQ(hold->attr("envelope_id"), "env-42");
  EXPECT_EQ(hold->extracted_offset, 6237);
  EXPECT_GT(hold->warning_time, hold->arrival_sec);
  EXPECT_TRUE(hold->has_end);

  auto deferred = read_queue_file(sample("deferred"));
  ASSERT_TRUE(deferred) << deferred.error().text;
  ASSERT_EQ(deferred->recipients.size(), 2u);
  EXPECT_TRUE(deferred->recipients[0].done());
  EXPECT_EQ(deferred->recipients[0].address, "ok@discard.test");
  EXPECT_FALSE(deferred->recipients[1].done());

  auto maildrop = read_queue_file(sample("maildrop"));
  ASSERT_TRUE(maildrop) << maildrop.error().text;
  EXPECT_FALSE(maildrop->size);
  EXPECT_EQ(maildrop->fullname, "Carol Q");
  EXPECT_EQ(maildrop->sender, "carol@compat.test");
  EXPECT_EQ(maildrop->recipients.size(), 2u);

  auto longid = read_queue_file(sample("longid"));
  ASSERT_TRUE(longid) << longid.error().text;
  EXPECT_EQ(longid->recipients.size(), 2u);
}

// Every truncation of a Postfix file is an error (never a crash, never a
// silent success), and so is a flipped byte in the envelope's framing.
TEST(QueueFile, TruncatedAndCorruptFilesAreErrors) {
  TempDir dir;
  std::string bytes = slurp(sample("hold"));
  std::string path = dir.path() + "/t";
  for (size_t len = 0; len < bytes.size(); len += (len < 900 ? 1 : 97)) {
    { std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, len); }
    auto info = read_queue_file(path);
    ASSERT_FALSE(info) << "truncated at " << len;
    EXPECT_TRUE(info.error().code == Errc::kEof || info.error().code == Errc::kInvalid) << info.error().text;
    EXPECT_TRUE(info.error().text.starts_with(path + ": ")) << info.error().text;
  }
  // Corrupt the type byte of the first recipient-ish record.
  std::string bad = bytes;
  bad[0] = 'Q';
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << bad; }
  EXPECT_FALSE(read_queue_file(path));
  bad = bytes;
  bad[bytes.size() - 2] = 'Z';  // the E record
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << bad; }
  EXPECT_FALSE(read_queue_file(path));
}

TEST(QueueFile, SizeRecordParse) {
  auto s = SizeRecord::parse("            321             752               2               0             321               0");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->content_size, 321);
  EXPECT_EQ(s->data_offset, 752);
  EXPECT_EQ(s->format().size(), 95u);
  EXPECT_FALSE(SizeRecord::parse("x"));
  EXPECT_FALSE(SizeRecord::parse("1 2 -3"));
}

}  // namespace
}  // namespace postern
