// A pool of threads for qmgr's blocking conversations (delivery agents,
// the bounce service). Threads are started on demand, up to a limit, and
// kept for later tasks: a thread per delivery cost more CPU than the
// delivery itself. Tasks beyond the limit wait in order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace postern::qmgr {

class WorkerPool {
 public:
  explicit WorkerPool(size_t max_threads);
  // Threads still busy finish their task and then exit on their own.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(std::function<void()> task);

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::function<void()>> tasks;
    size_t threads = 0, idle = 0, max = 1;
    bool stop = false;
  };
  static void work(std::shared_ptr<State> s);
  std::shared_ptr<State> s_;
};

}  // namespace postern::qmgr
