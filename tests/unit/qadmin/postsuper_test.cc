#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "global/mail_queue.h"
#include "global/queue_file.h"
#include "global/record.h"
#include "postsuper/queue_ops.h"

using namespace postern;
namespace fs = std::filesystem;

namespace {

TEST(PostsuperIds, Arguments) {
  EXPECT_EQ(parse_id_argument("ALL").kind, IdArgument::kAll);
  EXPECT_EQ(parse_id_argument("-").kind, IdArgument::kStdin);
  auto one = parse_id_argument("ABC123");
  EXPECT_EQ(one.kind, IdArgument::kOne);
  EXPECT_EQ(one.id, "ABC123");
}

TEST(PostsuperIds, LinesAreTakenVerbatim) {
  // As Postfix: "ID*" pasted from mailq or a padded line is not an ID.
  auto ids = ids_from_text("B0B36A78124\n  C0000A1  \nD00001!\nE00001 extra\n\nbad/x");
  EXPECT_EQ(ids, (std::vector<std::string>{"B0B36A78124", "  C0000A1  ", "D00001!", "E00001 extra",
                                           "", "bad/x"}));
}

TEST(PostsuperIds, WellFormedAndInodeNames) {
  EXPECT_TRUE(well_formed_queue_id("B0B36A78124"));
  EXPECT_FALSE(well_formed_queue_id("ZZ"));
  EXPECT_FALSE(well_formed_queue_id("12345.678"));
  EXPECT_FALSE(well_formed_queue_id("b0b36a78124"));
  EXPECT_TRUE(well_formed_queue_id("4jXwtN5YLSz1bc8s"));
  EXPECT_EQ(name_for_inode("A0000A1", 0xA78330), "A0000A78330");
  EXPECT_EQ(name_for_inode("B0B36A78124", 0xA78124), "B0B36A78124");
  EXPECT_FALSE(name_for_inode("junk", 1));
}

TEST(PostsuperIds, DefaultQueues) {
  EXPECT_EQ(default_queues(SuperOp::kRelease), std::vector<std::string>{"hold"});
  EXPECT_EQ(default_queues(SuperOp::kHold),
            (std::vector<std::string>{"incoming", "active", "deferred"}));
  EXPECT_EQ(default_queues(SuperOp::kDelete),
            (std::vector<std::string>{"hold", "incoming", "active", "deferred"}));
  EXPECT_TRUE(valid_super_queue("deferred"));
  EXPECT_FALSE(valid_super_queue("foo"));
  EXPECT_FALSE(valid_super_queue("corrupt"));
}

class QueueOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("qadmin-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    for (auto q : {"maildrop", "incoming", "active", "deferred", "hold", "defer", "bounce", "trace"})
      fs::create_directories(dir_ / q);
    MailQueue::Settings s;
    s.directory = dir_.string();
    s.hashed = {"deferred", "defer"};
    queue_ = std::make_unique<MailQueue>(s);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A complete queue file as cleanup writes it.
  std::string make(std::string_view q) {
    auto f = queue_->create(q);
    EXPECT_TRUE(f) << f.error().text;
    QueueFileWriter w(f->fd.get());
    w.size_record();
    w.time(1700000000, 5);
    w.attr("create_time", "1700000000");
    w.sender("a@b.test");
    w.recipient("x@y.test", std::string_view("orig@y.test"));
    off_t done = w.recipient("done@y.test");
    w.message_start();
    w.content_line("Subject: hi");
    w.content_line("");
    w.content_line(std::string(3000, 'z'));
    w.extracted_start();
    w.recipient("bcc@y.test");
    w.end();
    EXPECT_TRUE(w.commit(f->fd.get()));
    EXPECT_TRUE(mark_recipient(f->fd.get(), done));
    return f->id;
  }

  fs::path dir_;
  std::unique_ptr<MailQueue> queue_;
  std::vector<std::string> lines_;
};

TEST_F(QueueOpsTest, HoldReleaseRequeueDelete) {
  std::string id = make("deferred");
  fs::create_directories(fs::path(queue_->path("defer", id)).parent_path());
  std::ofstream(queue_->path("defer", id)) << "\nrecipient=a@b\nreason=x\n\n";
  QueueOps ops(*queue_, [&](const std::string& l) { lines_.push_back(l); });
  EXPECT_TRUE(ops.apply(SuperOp::kHold, id, default_queues(SuperOp::kHold)));
  EXPECT_TRUE(fs::exists(queue_->path("hold", id)));
  EXPECT_FALSE(ops.apply(SuperOp::kHold, id, default_queues(SuperOp::kHold)));  // already held
  EXPECT_TRUE(ops.apply(SuperOp::kRelease, id, default_queues(SuperOp::kRelease)));
  EXPECT_TRUE(fs::exists(queue_->path("deferred", id)));
  EXPECT_TRUE(ops.apply(SuperOp::kExpire, id, default_queues(SuperOp::kExpire)));
  EXPECT_EQ(fs::status(queue_->path("deferred", id)).permissions() & fs::perms::group_exec,
            fs::perms::group_exec);
  EXPECT_TRUE(ops.apply(SuperOp::kRequeue, id, default_queues(SuperOp::kRequeue)));
  EXPECT_TRUE(fs::exists(queue_->path("maildrop", id)));
  EXPECT_FALSE(fs::exists(queue_->path("deferred", id)));
  // In the format pickup takes: T first, only what postdrop may write.
  {
    int fd = ::open(queue_->path("maildrop", id).c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    RecordReader r(fd, "maildrop");
    std::string types;
    std::vector<std::string> rcpts;
    while (auto rec = r.next()) {
      if (!*rec) break;
      types += static_cast<char>((*rec)->type);
      if ((*rec)->type == 'R') rcpts.push_back((*rec)->data);
    }
    ::close(fd);
    EXPECT_EQ(types, "TASRMNNLNXRE");
    EXPECT_EQ(rcpts, (std::vector<std::string>{"x@y.test", "bcc@y.test"}));
    EXPECT_EQ(fs::status(queue_->path("maildrop", id)).permissions(), fs::perms(0700));
  }
  EXPECT_FALSE(fs::exists(queue_->path("defer", id)));
  EXPECT_FALSE(ops.apply(SuperOp::kDelete, id, default_queues(SuperOp::kDelete)));  // maildrop
  EXPECT_TRUE(ops.apply(SuperOp::kDelete, id, {"maildrop"}));
  EXPECT_FALSE(fs::exists(queue_->path("maildrop", id)));
  EXPECT_EQ(lines_, (std::vector<std::string>{id + ": placed on hold", id + ": released from hold",
                                              id + ": expired", id + ": requeued",
                                              id + ": removed"}));
  EXPECT_EQ(ops.counts().held, 1);
  EXPECT_EQ(ops.counts().deleted, 1);
}

TEST_F(QueueOpsTest, AllIsQuietAndCounts) {
  for (int i = 0; i < 3; ++i) make("incoming");
  make("hold");
  QueueOps ops(*queue_, [&](const std::string& l) { lines_.push_back(l); });
  ops.apply_all(SuperOp::kDelete, {"incoming"});
  EXPECT_EQ(ops.counts().deleted, 3);
  EXPECT_TRUE(lines_.empty());
  EXPECT_EQ(queue_->scan("hold")->size(), 1u);
}

TEST_F(QueueOpsTest, DeleteWaitsForTheQueueFileLock) {
  std::string id = make("active");
  int fd = ::open(queue_->path("active", id).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_SH), 0);  // a delivery agent at work
  pid_t child = ::fork();
  if (child == 0) {
    ::usleep(300000);
    ::flock(fd, LOCK_UN);  // the lock is shared by the open file: releasing here frees it
    ::_exit(0);
  }
  ::close(fd);  // our copy of the descriptor: the child still holds the lock
  QueueOps ops(*queue_, [&](const std::string& l) { lines_.push_back(l); });
  EXPECT_TRUE(ops.apply(SuperOp::kDelete, id, {"active"}));
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_FALSE(fs::exists(queue_->path("active", id)));
}

TEST_F(QueueOpsTest, StructureCheckRenamesToInode) {
  std::string id = make("incoming");
  std::string wrong = id.substr(0, 5) + "1";
  fs::rename(queue_->path("incoming", id), queue_->path("incoming", wrong));
  fs::create_directories(fs::path(queue_->path("defer", wrong)).parent_path());
  std::ofstream(queue_->path("defer", wrong)) << "x";
  std::ofstream(dir_ / "incoming" / "ZZ") << "x";
  QueueOps ops(*queue_, [&](const std::string& l) { lines_.push_back(l); });
  EXPECT_EQ(ops.check_structure(false, true), 1);
  EXPECT_TRUE(fs::exists(queue_->path("incoming", id)));
  EXPECT_TRUE(fs::exists(queue_->path("defer", id)));
  EXPECT_TRUE(fs::exists(dir_ / "incoming" / "ZZ"));  // bogus: left alone
  EXPECT_EQ(ops.check_structure(false, true), 0);
}

}  // namespace
