// master(8): the supervisor. Owns every listener of master.cf, forks a
// service process when a listener has work and no process of that
// service is idle (up to maxproc), learns idle/busy through each
// service's status pipe, triggers wakeups, throttles services whose
// processes die before serving, and reaps and logs abnormal exits.
// SIGHUP reloads (unchanged listeners kept, old processes retire when
// idle); SIGTERM stops everything in order.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "global/config.h"
#include "master/master_plan.h"
#include "util/event_loop.h"
#include "util/unique_fd.h"

namespace postern {

class Master {
 public:
  Master(std::string config_dir, int verbose) : config_dir_(std::move(config_dir)), verbose_(verbose) {}

  // Plans and opens every listener; an error (port in use, bad master.cf)
  // is what master reports before it exits.
  Status start(const Config& cfg);
  // Runs until SIGTERM; returns the exit status.
  int run(int exit_after_seconds);

 private:
  struct Listener {
    Endpoint endpoint;
    UniqueFd fd;
  };
  struct Service {
    ServicePlan plan;
    std::vector<Listener> listeners;
    UniqueFd status_read;
    UniqueFd status_write;
    int avail = 0;
    int total = 0;
    bool throttled = false;
    bool used = false;
    EventLoop::TimerId throttle_timer = 0;
    EventLoop::TimerId wakeup_timer = 0;
    std::chrono::steady_clock::time_point last_limit_warning{};
  };
  struct Child {
    Service* service = nullptr;  // null once retired by a reload
    std::string program_path;
    bool avail = true;
    int use_count = 0;
  };

  Status open_listeners(Service& s, std::vector<Listener>* reuse);
  Status open_status_pipe(Service& s);
  void close_service(Service& s);
  void retire_children(Service& s);
  void update_listen(Service& s);
  void spawn(Service& s);
  [[noreturn]] void exec_child(Service& s);
  void read_status(Service& s);
  void reap();
  void throttle(Service& s);
  // Arms the wakeup timer; `now` fires it at once (at start and for new
  // services, as Postfix's master wakes qmgr and pickup right away).
  void schedule_wakeup(Service& s, bool now = false);
  void wakeup(Service& s);
  void reload();
  void stop(int signal);
  std::vector<std::string> child_environment() const;

  std::string config_dir_;
  int verbose_ = 0;
  EventLoop loop_;
  std::vector<std::unique_ptr<Service>> services_;
  std::map<pid_t, Child> children_;
  unsigned generation_ = 1;
  bool stopping_ = false;
  int throttle_seconds_ = 60;
  std::string queue_dir_;
  std::string mail_owner_;
  std::vector<std::string> environment_;
  int exit_status_ = 0;
};

}  // namespace postern
