#include "global/mail_queue.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "global/config.h"
#include "global/queue_dirs.h"
#include "global/queue_id.h"
#include "test_dir.h"
#include "util/log.h"

namespace postern {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

// A queue directory with every queue of queue_dirs.h.
MailQueue make_queue(const TempDir& dir, bool long_ids = false, int depth = 1) {
  for (const auto& spec : kQueueDirs) {
    if (!spec.name.empty()) fs::create_directories(dir.path() + "/" + std::string(spec.name));
  }
  return MailQueue({dir.path(), {"deferred", "defer"}, depth, long_ids});
}

TEST(MailQueue, HashedPaths) {
  MailQueue q({"/q", {"deferred", "defer"}, 1, false});
  EXPECT_EQ(q.relative_path("deferred", "DC0B4A7409B"), "deferred/D/DC0B4A7409B");
  EXPECT_EQ(q.relative_path("incoming", "DC0B4A7409B"), "incoming/DC0B4A7409B");
  EXPECT_EQ(q.path("hold", "DC0B4A7409B"), "/q/hold/DC0B4A7409B");
  EXPECT_EQ(q.relative_path("defer", "DC0B4A7409B"), "defer/D/DC0B4A7409B");
  // Long IDs hash by their microseconds as hex (observed: deferred/B/).
  EXPECT_EQ(q.relative_path("deferred", "4jXwtN5YLSz1bc8s"), "deferred/B/4jXwtN5YLSz1bc8s");
  MailQueue deep({"/q", {"deferred"}, 2, false});
  EXPECT_EQ(deep.relative_path("deferred", "DC0B4A7409B"), "deferred/D/C/DC0B4A7409B");
  EXPECT_EQ(deep.relative_path("deferred", "A"), "deferred/A/_/A");
}

TEST(MailQueue, FromConfig) {
  Config c;
  c.set_override("queue_directory", "/some/queue");
  c.set_override("hash_queue_names", "deferred, defer, incoming");
  c.set_override("hash_queue_depth", "2");
  c.set_override("enable_long_queue_ids", "yes");
  auto q = MailQueue::from_config(c);
  ASSERT_TRUE(q) << q.error().text;
  EXPECT_EQ(q->directory(), "/some/queue");
  EXPECT_TRUE(q->is_hashed("incoming"));
  EXPECT_FALSE(q->is_hashed("hold"));
  EXPECT_EQ(q->settings().hash_depth, 2);
  EXPECT_TRUE(q->settings().long_ids);
  c.set_override("hash_queue_depth", "x");
  EXPECT_FALSE(MailQueue::from_config(c));
}

TEST(MailQueue, CreateNamesTheFileAfterTimeAndInode) {
  TempDir dir;
  MailQueue q = make_queue(dir);
  auto f = q.create("incoming");
  ASSERT_TRUE(f) << f.error().text;
  struct stat st;
  ASSERT_EQ(::fstat(f->fd.get(), &st), 0);
  EXPECT_EQ(f->path, dir.path() + "/incoming/" + f->id);
  EXPECT_TRUE(f->id.ends_with(fmt::format("{:X}", st.st_ino)));
  EXPECT_EQ(f->id.size(), 5 + fmt::format("{:X}", st.st_ino).size());
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // Only the final name is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path() + "/incoming"), fs::directory_iterator()), 1);

  auto d = q.create("deferred");
  ASSERT_TRUE(d) << d.error().text;
  EXPECT_EQ(d->path, dir.path() + "/deferred/" + d->id.substr(0, 1) + "/" + d->id);
}

TEST(MailQueue, CreateLongIds) {
  TempDir dir;
  MailQueue q = make_queue(dir, true);
  auto f = q.create("deferred");
  ASSERT_TRUE(f) << f.error().text;
  EXPECT_TRUE(is_long_queue_id(f->id)) << f->id;
  struct stat st;
  ASSERT_EQ(::fstat(f->fd.get(), &st), 0);
  auto parts = parse_long_queue_id(f->id);
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->inode, st.st_ino);
  EXPECT_LE(std::abs(parts->sec - ::time(nullptr)), 5);
  EXPECT_EQ(f->path, dir.path() + "/deferred/" + queue_id_hash_key(f->id).substr(0, 1) + "/" + f->id);
}

TEST(MailQueue, UniqueIdsUnderConcurrentCreation) {
  for (bool long_ids : {false, true}) {
    TempDir dir;
    MailQueue q = make_queue(dir, long_ids);
    std::mutex m;
    std::set<std::string> ids;
    int failures = 0;
    // Other processes at the same time (forked before any thread starts).
    std::vector<pid_t> kids;
    for (int p = 0; p < 3; ++p) {
      pid_t pid = ::fork();
      if (pid == 0) {
        for (int i = 0; i < 250; ++i) {
          if (!q.create("incoming")) ::_exit(1);
        }
        ::_exit(0);
      }
      kids.push_back(pid);
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 250; ++i) {
          auto f = q.create("incoming");
          std::lock_guard lock(m);
          if (!f) {
            ++failures;
            continue;
          }
          ids.insert(f->id);
        }
      });
    }
    for (auto& t : threads) t.join();
    for (pid_t pid : kids) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(ids.size(), 1000u);
    auto all = q.scan("incoming");
    ASSERT_TRUE(all);
    EXPECT_EQ(all->size(), 1750u);  // every create left exactly one distinct file
    std::set<std::string> unique(all->begin(), all->end());
    EXPECT_EQ(unique.size(), all->size());
  }
}

TEST(MailQueue, MoveBetweenQueuesIsARename) {
  TempDir dir;
  MailQueue q = make_queue(dir);
  auto f = q.create("incoming");
  ASSERT_TRUE(f);
  ASSERT_EQ(::write(f->fd.get(), "x", 1), 1);
  struct stat before;
  ::fstat(f->fd.get(), &before);
  ASSERT_TRUE(q.move("incoming", "active", f->id));
  ASSERT_TRUE(q.move("active", "deferred", f->id));  // creates deferred/X/
  struct stat after;
  ASSERT_EQ(::stat(q.path("deferred", f->id).c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_FALSE(fs::exists(q.path("incoming", f->id)));
  EXPECT_FALSE(fs::exists(q.path("active", f->id)));
  EXPECT_EQ(q.find(f->id), "deferred");
  ASSERT_TRUE(q.move("deferred", "hold", f->id));
  EXPECT_EQ(q.find(f->id), "hold");

  auto missing = q.move("incoming", "active", "ABCDE123");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_FALSE(q.move("hold", "active", "../x"));
  EXPECT_FALSE(q.find("NOSUCHID"));
}

TEST(MailQueue, ScanDescendsIntoHashDirectoriesAndSkipsTemporaryFiles) {
  TempDir dir;
  MailQueue q = make_queue(dir);
  std::set<std::string> made;
  for (int i = 0; i < 20; ++i) {
    auto f = q.create("deferred");
    ASSERT_TRUE(f);
    made.insert(f->id);
  }
  std::ofstream(dir.path() + "/deferred/123456.789") << "temp";
  std::ofstream(dir.path() + "/deferred/TOPLEVEL") << "old";
  made.insert("TOPLEVEL");
  auto ids = q.scan("deferred");
  ASSERT_TRUE(ids);
  EXPECT_EQ(std::set<std::string>(ids->begin(), ids->end()), made);
  EXPECT_FALSE(q.scan("nosuchqueue"));
}

TEST(MailQueue, SaveCorruptMovesAndLogs) {
  TempDir dir;
  MailQueue q = make_queue(dir);
  auto f = q.create("incoming");
  ASSERT_TRUE(f);
  log::init("test", "test");
  log::disable_syslog();
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(q.save_corrupt("incoming", f->id));
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("warning: saving corrupt file \"" + f->id + "\" from queue \"incoming\" to queue \"corrupt\""),
            std::string::npos)
      << err;
  EXPECT_TRUE(fs::exists(dir.path() + "/corrupt/" + f->id));
}

}  // namespace
}  // namespace postern
