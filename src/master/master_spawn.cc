// master: forking service processes, their status reports, reaping,
// throttling and wakeup triggers.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "global/mail_server.h"
#include "global/trigger.h"
#include "master/master.h"
#include "util/log.h"

namespace postern {

void Master::spawn(Service& s) {
  if (stopping_ || s.throttled) return;
  if (s.plan.maxproc != 0 && s.total >= s.plan.maxproc) return;
  pid_t pid = ::fork();
  if (pid < 0) {
    log::warn("fork: {}", std::strerror(errno));
    throttle(s);
    return;
  }
  if (pid == 0) exec_child(s);
  log::debug("spawn: {} pid {}", s.plan.program_path, pid);
  children_[pid] = Child{&s, s.plan.program_path, true, 0};
  ++s.avail;
  ++s.total;
  update_listen(s);
}

// In the new process: descriptors as the skeleton expects them (status
// pipe at 5, listeners from 6), default signals, then exec.
void Master::exec_child(Service& s) {
  for (int sig : {SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGPIPE}) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<int> sources{s.status_write.get()};
  for (auto& l : s.listeners) sources.push_back(l.fd.get());
  std::vector<int> moved;
  for (int fd : sources) moved.push_back(::fcntl(fd, F_DUPFD, 1000));
  for (size_t i = 0; i < moved.size(); ++i) {
    if (moved[i] < 0 || ::dup2(moved[i], kMasterStatusFd + static_cast<int>(i)) < 0) {
      log::emit(log::Level::kFatal, fmt::format("spawn: dup2: {}", std::strerror(errno)));
      ::_exit(1);
    }
  }
  ::close_range(3, kMasterStatusFd - 1, 0);
  ::close_range(kMasterStatusFd + static_cast<unsigned>(moved.size()), ~0U, 0);

  std::vector<std::string> env = environment_;
  env.push_back(fmt::format("GENERATION={:o}", generation_));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = s.plan.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execve(s.plan.program_path.c_str(), argv.data(), envp.data());
  log::emit(log::Level::kFatal,
            fmt::format("spawn: exec {}: {}", s.plan.program_path, std::strerror(errno)));
  ::_exit(1);
}

void Master::read_status(Service& s) {
  MasterStatus buf[64];
  for (;;) {
    ssize_t n = ::read(s.status_read.get(), buf, sizeof buf);
    if (n <= 0) return;
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(MasterStatus); ++i) {
      const MasterStatus& st = buf[i];
      auto it = children_.find(st.pid);
      if (it == children_.end() || it->second.service != &s || st.gen != generation_) continue;
      Child& c = it->second;
      if (st.avail && !c.avail) {
        c.avail = true;
        ++s.avail;
      } else if (!st.avail && c.avail) {
        c.avail = false;
        ++c.use_count;
        --s.avail;
        if (!s.used) {
          s.used = true;
          if (s.plan.wakeup_after_use) schedule_wakeup(s);
        }
        // Solitary services (maxproc 1) are always at their limit when busy: no warning.
        auto now = std::chrono::steady_clock::now();
        if (s.avail == 0 && s.plan.maxproc > 1 && s.total >= s.plan.maxproc &&
            (s.last_limit_warning == std::chrono::steady_clock::time_point{} ||
             now - s.last_limit_warning > std::chrono::minutes(5))) {
          s.last_limit_warning = now;
          const Endpoint& ep = s.plan.endpoints.front();
          std::string where = ep.kind == ListenKind::kInet
                                  ? s.plan.name
                                  : ep.path.substr(ep.path.rfind('/', ep.path.rfind('/') - 1) + 1);
          log::warn("service \"{}\" ({}) has reached its process limit \"{}\": "
                    "new clients may be delayed", s.plan.name, where, s.plan.maxproc);
          log::warn("to avoid this condition, increase the process count in master.cf "
                    "or reduce the service time per client");
        }
      }
    }
    update_listen(s);
  }
}

void Master::reap() {
  // Status reports written before a child died must count (it may have
  // served a client before crashing): read them before reaping.
  for (auto& s : services_)
    if (s->status_read) read_status(*s);
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = children_.find(pid);
    if (it == children_.end()) continue;
    Child c = it->second;
    children_.erase(it);
    Service* s = c.service;
    if (s) {
      if (c.avail) --s->avail;
      --s->total;
    }
    if (stopping_) continue;
    bool abnormal = false;
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
      log::warn("process {} pid {} exit status {}", c.program_path, pid, WEXITSTATUS(status));
      abnormal = true;
    } else if (WIFSIGNALED(status)) {
      log::warn("process {} pid {} killed by signal {}", c.program_path, pid, WTERMSIG(status));
      abnormal = true;
    }
    if (s) {
      if (abnormal && c.use_count == 0 && !s->throttled) throttle(*s);
      update_listen(*s);
    }
  }
}

// A service whose process died before serving anyone gets no new process
// for service_throttle_time.
void Master::throttle(Service& s) {
  log::warn("{}: bad command startup -- throttling", s.plan.program_path);
  s.throttled = true;
  update_listen(s);
  Service* sp = &s;
  s.throttle_timer = loop_.add_timer(std::chrono::seconds(throttle_seconds_), [this, sp] {
    sp->throttle_timer = 0;
    sp->throttled = false;
    update_listen(*sp);
  });
}

void Master::schedule_wakeup(Service& s, bool now) {
  if (s.plan.wakeup <= 0 || s.wakeup_timer) return;
  if (s.plan.wakeup_after_use && !s.used) return;
  Service* sp = &s;
  auto delay = now ? std::chrono::seconds(0) : std::chrono::seconds(s.plan.wakeup);
  s.wakeup_timer = loop_.add_timer(delay, [this, sp] {
    sp->wakeup_timer = 0;
    wakeup(*sp);
    schedule_wakeup(*sp);
  });
}

// Pokes the service through its own listener, as any trigger client would.
void Master::wakeup(Service& s) {
  if (s.throttled || s.listeners.empty()) return;
  const Endpoint& ep = s.listeners.front().endpoint;
  std::string w(1, kTriggerWakeup);
  Status st;
  if (ep.kind == ListenKind::kFifo)
    st = trigger_fifo(ep.path, w);
  else if (ep.kind == ListenKind::kUnix)
    st = trigger_unix(ep.path, w, std::chrono::milliseconds(100));
  if (!st) log::debug("wakeup {}: {}", s.plan.key(), st.error().text);
}

}  // namespace postern
