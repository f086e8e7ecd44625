#include "qmgr/worker_pool.h"

#include <thread>

namespace postern::qmgr {

WorkerPool::WorkerPool(size_t max_threads) : s_(std::make_shared<State>()) {
  s_->max = max_threads < 1 ? 1 : max_threads;
}

WorkerPool::~WorkerPool() {
  std::lock_guard<std::mutex> lock(s_->mutex);
  s_->stop = true;
  s_->tasks.clear();
  s_->cv.notify_all();
}

void WorkerPool::submit(std::function<void()> task) {
  bool start = false;
  {
    std::lock_guard<std::mutex> lock(s_->mutex);
    s_->tasks.push_back(std::move(task));
    if (s_->tasks.size() > s_->idle && s_->threads < s_->max) {
      ++s_->threads;
      start = true;
    }
  }
  if (start)
    std::thread(work, s_).detach();
  else
    s_->cv.notify_one();
}

void WorkerPool::work(std::shared_ptr<State> s) {
  std::unique_lock<std::mutex> lock(s->mutex);
  for (;;) {
    ++s->idle;
    s->cv.wait(lock, [&] { return s->stop || !s->tasks.empty(); });
    --s->idle;
    if (s->stop) break;
    auto task = std::move(s->tasks.front());
    s->tasks.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
  --s->threads;
}

}  // namespace postern::qmgr
