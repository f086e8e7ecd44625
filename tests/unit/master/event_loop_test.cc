#include "util/event_loop.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace postern {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, ReadCallbackFiresForReadableDescriptor) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  std::string got;
  loop.watch_read(r.get(), [&] {
    char buf[16];
    ssize_t n = ::read(r.get(), buf, sizeof buf);
    if (n > 0) got.append(buf, n);
    loop.stop();
  });
  ASSERT_EQ(::write(w.get(), "hi", 2), 2);
  loop.run();
  EXPECT_EQ(got, "hi");
}

TEST(EventLoop, TimersRunInOrderAndCanBeCancelled) {
  EventLoop loop;
  std::string order;
  loop.add_timer(30ms, [&] { order += "b"; loop.stop(); });
  loop.add_timer(1ms, [&] { order += "a"; });
  auto id = loop.add_timer(10ms, [&] { order += "x"; });
  loop.cancel_timer(id);
  loop.run();
  EXPECT_EQ(order, "ab");
}

TEST(EventLoop, SignalBecomesCallback) {
  EventLoop loop;
  int seen = 0;
  loop.watch_signal(SIGUSR1, [&] { ++seen; loop.stop(); });
  ::kill(::getpid(), SIGUSR1);
  loop.add_timer(5000ms, [&] { loop.stop(); });  // bound the test if the signal is lost
  loop.run();
  EXPECT_EQ(seen, 1);
  loop.unwatch_signal(SIGUSR1);
}

TEST(EventLoop, CallbackMayRemoveItself) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  int calls = 0;
  loop.watch_read(r.get(), [&] { ++calls; loop.unwatch(r.get()); });
  ASSERT_EQ(::write(w.get(), "x", 1), 1);
  loop.run_once(100ms);
  loop.run_once(20ms);
  EXPECT_EQ(calls, 1);
}

TEST(EventLoop, ClosedPipeReaderWakesWriteEndWatcher) {
  // The service skeleton watches its status pipe (a write end) to learn that master died.
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd w(fds[1]);
  bool fired = false;
  loop.watch_read(w.get(), [&] { fired = true; loop.stop(); });
  ::close(fds[0]);
  loop.run_once(1000ms);
  EXPECT_TRUE(fired);
}

TEST(EventLoop, RunOnceReturnsAfterMaxWait) {
  EventLoop loop;
  EXPECT_TRUE(loop.run_once(5ms));
}

}  // namespace
}  // namespace postern
