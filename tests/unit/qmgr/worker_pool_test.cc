// qmgr's worker pool runs tasks side by side, up to its limit.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "qmgr/worker_pool.h"

using postern::qmgr::WorkerPool;

namespace {

// Tasks that wait until `n` of them run at once (or a deadline passes).
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  int inside = 0, peak = 0, finished = 0;
  void enter_and_wait(int n) {
    std::unique_lock<std::mutex> lock(m);
    ++inside;
    peak = std::max(peak, inside);
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return inside >= n; });
    ++finished;
    cv.notify_all();
  }
  void wait_finished(int n) {
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return finished >= n; });
  }
};

}  // namespace

TEST(QmgrWorkerPool, RunsTasksConcurrentlyUpToTheLimit) {
  auto gate = std::make_shared<Gate>();
  {
    WorkerPool pool(4);
    for (int i = 0; i < 4; ++i) pool.submit([gate] { gate->enter_and_wait(4); });
    gate->wait_finished(4);
  }
  EXPECT_EQ(gate->finished, 4);
  EXPECT_EQ(gate->peak, 4);  // all four were in at once: none waited for another
}

TEST(QmgrWorkerPool, QueuesTasksBeyondTheLimitAndRunsThemAll) {
  auto count = std::make_shared<std::atomic<int>>(0);
  auto gate = std::make_shared<Gate>();
  {
    WorkerPool pool(2);
    for (int i = 0; i < 50; ++i)
      pool.submit([count, gate] {
        ++*count;
        std::lock_guard<std::mutex> lock(gate->m);
        ++gate->finished;
        gate->cv.notify_all();
      });
    gate->wait_finished(50);
  }
  EXPECT_EQ(count->load(), 50);
}
