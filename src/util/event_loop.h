// EventLoop: a single-threaded poll(2) loop with descriptor callbacks,
// one-shot timers and signals turned into ordinary callbacks.
//
// Invariants: callbacks run only from run()/run_once(), never from a
// signal handler; a callback may add or remove any watch or timer,
// including its own. A read watch also fires on POLLERR/POLLHUP, so a
// watcher sees a peer that went away (the write end of a pipe whose
// reader closed reports this way: the service skeleton relies on it).
// Signal watches are process-wide: one loop per process should own them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "util/unique_fd.h"

namespace postern {

class EventLoop {
 public:
  using Callback = std::function<void()>;
  using TimerId = std::uint64_t;
  using Millis = std::chrono::milliseconds;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Calls `cb` whenever `fd` is readable (or in error); replaces an earlier read watch.
  void watch_read(int fd, Callback cb);
  // Calls `cb` whenever `fd` is writable; replaces an earlier write watch.
  void watch_write(int fd, Callback cb);
  void unwatch_read(int fd);
  void unwatch_write(int fd);
  // Removes both watches (call before closing a watched descriptor).
  void unwatch(int fd);
  bool watching_read(int fd) const;

  // Runs `cb` once after `delay`. Returns an id for cancel_timer().
  TimerId add_timer(Millis delay, Callback cb);
  void cancel_timer(TimerId id);

  // Runs `cb` in the loop after `signal` arrives (SA_RESTART handler).
  void watch_signal(int signal, Callback cb);
  // Restores the default disposition of a watched signal.
  void unwatch_signal(int signal);

  // Makes a blocked run_once() return; safe from a signal handler or another thread.
  void wakeup();

  // Waits at most `max_wait` (forever when nullopt) for one round of events
  // and runs their callbacks. Returns false when stop() was called.
  bool run_once(std::optional<Millis> max_wait = std::nullopt);
  // Loops until stop().
  void run();
  void stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }

 private:
  struct Watch {
    Callback on_read;
    Callback on_write;
  };
  struct Timer {
    std::chrono::steady_clock::time_point when;
    Callback cb;
  };

  void drain_wakeups();
  void run_signals();
  void run_due_timers();

  std::map<int, Watch> watches_;
  std::map<TimerId, Timer> timers_;
  std::map<int, Callback> signals_;
  TimerId next_timer_ = 1;
  bool stopped_ = false;
  UniqueFd wake_read_;
  UniqueFd wake_write_;
};

}  // namespace postern
