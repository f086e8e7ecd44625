#include "util/event_loop.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace postern {
namespace {

constexpr int kMaxSignal = 65;
volatile sig_atomic_t g_pending[kMaxSignal];
volatile int g_wake_fd = -1;  // the write end of the current signal-owning loop

extern "C" void on_signal(int sig) {
  int saved = errno;
  if (sig > 0 && sig < kMaxSignal) g_pending[sig] = 1;
  if (g_wake_fd >= 0) {
    char byte = 1;
    ssize_t ignored = ::write(g_wake_fd, &byte, 1);
    (void)ignored;
  }
  errno = saved;
}

}  // namespace

EventLoop::EventLoop() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
    wake_read_.reset(fds[0]);
    wake_write_.reset(fds[1]);
  }
}

EventLoop::~EventLoop() {
  for (auto& [sig, cb] : signals_) ::signal(sig, SIG_DFL);
  if (g_wake_fd == wake_write_.get()) g_wake_fd = -1;
}

void EventLoop::watch_read(int fd, Callback cb) { watches_[fd].on_read = std::move(cb); }
void EventLoop::watch_write(int fd, Callback cb) { watches_[fd].on_write = std::move(cb); }

void EventLoop::unwatch_read(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  it->second.on_read = nullptr;
  if (!it->second.on_write) watches_.erase(it);
}

void EventLoop::unwatch_write(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  it->second.on_write = nullptr;
  if (!it->second.on_read) watches_.erase(it);
}

void EventLoop::unwatch(int fd) { watches_.erase(fd); }

bool EventLoop::watching_read(int fd) const {
  auto it = watches_.find(fd);
  return it != watches_.end() && it->second.on_read;
}

EventLoop::TimerId EventLoop::add_timer(Millis delay, Callback cb) {
  TimerId id = next_timer_++;
  timers_[id] = Timer{std::chrono::steady_clock::now() + delay, std::move(cb)};
  return id;
}

void EventLoop::cancel_timer(TimerId id) { timers_.erase(id); }

void EventLoop::watch_signal(int sig, Callback cb) {
  if (sig <= 0 || sig >= kMaxSignal) return;
  g_wake_fd = wake_write_.get();
  signals_[sig] = std::move(cb);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(sig, &sa, nullptr);
}

void EventLoop::unwatch_signal(int sig) {
  if (signals_.erase(sig)) ::signal(sig, SIG_DFL);
}

void EventLoop::wakeup() {
  char byte = 0;
  ssize_t ignored = ::write(wake_write_.get(), &byte, 1);
  (void)ignored;
}

void EventLoop::drain_wakeups() {
  char buf[256];
  while (::read(wake_read_.get(), buf, sizeof buf) > 0) {
  }
}

void EventLoop::run_signals() {
  for (int sig = 1; sig < kMaxSignal; ++sig) {
    if (!g_pending[sig]) continue;
    g_pending[sig] = 0;
    auto it = signals_.find(sig);
    if (it != signals_.end()) {
      Callback cb = it->second;  // the callback may unwatch itself
      cb();
    }
  }
}

void EventLoop::run_due_timers() {
  auto now = std::chrono::steady_clock::now();
  std::vector<TimerId> due;
  for (auto& [id, t] : timers_)
    if (t.when <= now) due.push_back(id);
  for (TimerId id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled by an earlier callback
    Callback cb = std::move(it->second.cb);
    timers_.erase(it);
    cb();
  }
}

bool EventLoop::run_once(std::optional<Millis> max_wait) {
  if (stopped_) return false;
  // The poll timeout: the earliest of max_wait and the next timer.
  long long timeout = max_wait ? max_wait->count() : -1;
  auto now = std::chrono::steady_clock::now();
  for (auto& [id, t] : timers_) {
    long long ms =
        std::chrono::duration_cast<Millis>(t.when - now).count() + (t.when > now ? 1 : 0);
    if (ms < 0) ms = 0;
    if (timeout < 0 || ms < timeout) timeout = ms;
  }
  std::vector<pollfd> fds;
  fds.push_back(pollfd{wake_read_.get(), POLLIN, 0});
  for (auto& [fd, w] : watches_) {
    short events = 0;
    if (w.on_read) events |= POLLIN;
    if (w.on_write) events |= POLLOUT;
    fds.push_back(pollfd{fd, events, 0});
  }
  int n = ::poll(fds.data(), fds.size(), timeout > INT32_MAX ? INT32_MAX : static_cast<int>(timeout));
  if (n < 0 && errno != EINTR) return !stopped_;
  if (n > 0 && fds[0].revents) drain_wakeups();
  run_signals();
  for (size_t i = 1; n > 0 && i < fds.size() && !stopped_; ++i) {
    short rev = fds[i].revents;
    if (!rev) continue;
    int fd = fds[i].fd;
    // Look the watch up again each time: an earlier callback may have removed it.
    if (rev & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) {
      auto it = watches_.find(fd);
      if (it != watches_.end() && it->second.on_read) {
        Callback cb = it->second.on_read;
        cb();
      } else if (rev & POLLNVAL) {
        unwatch(fd);  // closed without unwatching: drop it rather than spin
      }
    }
    if (rev & (POLLOUT | POLLERR | POLLHUP)) {
      auto it = watches_.find(fd);
      if (it != watches_.end() && it->second.on_write) {
        Callback cb = it->second.on_write;
        cb();
      }
    }
  }
  if (!stopped_) run_due_timers();
  return !stopped_;
}

void EventLoop::run() {
  while (run_once()) {
  }
}

}  // namespace postern
