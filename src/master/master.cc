// master: services, listeners, reload and stop (process handling is in
// master_spawn.cc).
#include "master/master.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "global/build_paths.h"
#include "global/mail_server.h"
#include "util/log.h"
#include "util/process.h"
#include "util/socket.h"
#include "util/strings.h"

namespace postern {
namespace {

constexpr int kBacklog = 128;

// The environment of every child: import_environment, then master's own.
std::vector<std::string> make_environment(const Config& cfg, const std::string& config_dir) {
  std::vector<std::string> env;
  auto set = [&env](const std::string& name, const std::string& value) {
    std::string prefix = name + "=";
    std::erase_if(env, [&](const std::string& e) { return e.starts_with(prefix); });
    env.push_back(prefix + value);
  };
  const std::string import_list = cfg.get("import_environment");
  for (auto item : split(import_list)) {
    auto eq = item.find('=');
    if (eq != std::string_view::npos) {
      set(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    } else if (const char* v = std::getenv(std::string(item).c_str())) {
      set(std::string(item), v);
    }
  }
  log::Settings ls = mail_log_settings(cfg);
  set("MAIL_CONFIG", config_dir);
  set("MAIL_LOGTAG", ls.syslog_name);
  set("POSTLOG_SERVICE", ls.postlog_socket);
  set("POSTLOG_HOSTNAME", cfg.get("myhostname"));
  return env;
}

}  // namespace

Status Master::start(const Config& cfg) {
  // Signals first: "postfix reload" may follow as soon as start-up reports success.
  ::signal(SIGPIPE, SIG_IGN);
  loop_.watch_signal(SIGCHLD, [this] { reap(); });
  loop_.watch_signal(SIGHUP, [this] { reload(); });
  loop_.watch_signal(SIGTERM, [this] { stop(SIGTERM); });
  loop_.watch_signal(SIGINT, [this] { stop(SIGINT); });
  loop_.watch_signal(SIGQUIT, [this] { stop(SIGQUIT); });
  queue_dir_ = cfg.get("queue_directory");
  mail_owner_ = cfg.get("mail_owner");
  throttle_seconds_ = static_cast<int>(cfg.get_time("service_throttle_time"));
  environment_ = make_environment(cfg, config_dir_);
  PlanEnvironment env = detect_plan_environment();
  env.master_verbose = verbose_;
  auto plan = plan_services(cfg, env);
  if (!plan) return std::unexpected(plan.error());
  for (const auto& w : plan->warnings) log::warn("{}", w);
  for (auto& p : plan->services) {
    auto s = std::make_unique<Service>();
    s->plan = std::move(p);
    if (auto st = open_listeners(*s, nullptr); !st) return st;
    if (auto st = open_status_pipe(*s); !st) return st;
    services_.push_back(std::move(s));
  }
  for (auto& s : services_) {
    schedule_wakeup(*s, /*now=*/true);
    update_listen(*s);
  }
  return {};
}

Status Master::open_listeners(Service& s, std::vector<Listener>* reuse) {
  for (const Endpoint& ep : s.plan.endpoints) {
    if (reuse) {
      auto it = std::find_if(reuse->begin(), reuse->end(),
                             [&](const Listener& l) { return l.endpoint == ep && l.fd.valid(); });
      if (it != reuse->end()) {
        s.listeners.push_back(std::move(*it));
        continue;
      }
    }
    Result<UniqueFd> fd = fail(Errc::kInvalid, "unknown listener type");
    switch (ep.kind) {
      case ListenKind::kInet: fd = listen_inet(ep.host, ep.port, kBacklog); break;
      case ListenKind::kUnix:
      case ListenKind::kPass: fd = listen_unix(ep.path, kBacklog, 0666); break;
      case ListenKind::kUnixDgram: fd = bind_unix_dgram(ep.path, 0666); break;
      case ListenKind::kFifo: fd = open_fifo_listener(ep.path, 0622); break;
    }
    if (!fd) return std::unexpected(fd.error());
    if (ep.kind != ListenKind::kInet && ::geteuid() == 0) {
      // Sockets belong to mail_owner, as Postfix's do; the directory mode is the access control.
      if (auto u = lookup_user(mail_owner_); u && ::chown(ep.path.c_str(), u->uid, u->gid) < 0)
        log::warn("chown {}: {}", ep.path, std::strerror(errno));
    }
    s.listeners.push_back(Listener{ep, std::move(*fd)});
  }
  return {};
}

Status Master::open_status_pipe(Service& s) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return sys_fail("pipe");
  s.status_read.reset(fds[0]);
  s.status_write.reset(fds[1]);
  set_nonblocking(s.status_read.get(), true);
  Service* sp = &s;
  loop_.watch_read(s.status_read.get(), [this, sp] { read_status(*sp); });
  return {};
}

// Turns the listeners' watches on exactly when a new process may be needed:
// none idle, under the process limit, not throttled.
void Master::update_listen(Service& s) {
  bool under_limit = s.plan.maxproc == 0 || s.total < s.plan.maxproc;
  bool want = !stopping_ && !s.throttled && s.avail == 0 && under_limit;
  Service* sp = &s;
  for (auto& l : s.listeners) {
    int fd = l.fd.get();
    if (want && !loop_.watching_read(fd))
      loop_.watch_read(fd, [this, sp] { spawn(*sp); });
    else if (!want)
      loop_.unwatch_read(fd);
  }
}

// Children of `s` stop counting; they exit when idle because their
// status pipe's read end goes away.
void Master::retire_children(Service& s) {
  for (auto& [pid, c] : children_)
    if (c.service == &s) c.service = nullptr;
  if (s.status_read) loop_.unwatch(s.status_read.get());
  s.status_read.reset();
  s.status_write.reset();
  s.avail = 0;
  s.total = 0;
}

void Master::close_service(Service& s) {
  for (auto& l : s.listeners) loop_.unwatch(l.fd.get());
  s.listeners.clear();
  if (s.throttle_timer) loop_.cancel_timer(s.throttle_timer);
  if (s.wakeup_timer) loop_.cancel_timer(s.wakeup_timer);
  s.throttle_timer = s.wakeup_timer = 0;
  retire_children(s);
}

void Master::reload() {
  log::info("reload -- version {}, configuration {}", POSTERN_VERSION, config_dir_);
  auto cfg = Config::load(config_dir_);
  if (!cfg) {
    log::error("{} -- keeping the old configuration", cfg.error().text);
    return;
  }
  set_config(*cfg);
  log::Settings ls = mail_log_settings(*cfg);
  ls.postlog_socket.clear();
  log::configure(ls);
  PlanEnvironment env = detect_plan_environment();
  env.master_verbose = verbose_;
  auto plan = plan_services(*cfg, env);
  if (!plan) {
    log::error("{} -- keeping the old configuration", plan.error().text);
    return;
  }
  for (const auto& w : plan->warnings) log::warn("{}", w);
  ++generation_;
  mail_owner_ = cfg->get("mail_owner");
  throttle_seconds_ = static_cast<int>(cfg->get_time("service_throttle_time"));
  environment_ = make_environment(*cfg, config_dir_);

  // Services that are gone: close their listeners first (a new service may reuse a path).
  std::vector<std::unique_ptr<Service>> old = std::move(services_);
  services_.clear();
  for (auto& s : old) {
    bool kept = std::any_of(plan->services.begin(), plan->services.end(),
                            [&](const ServicePlan& p) { return p.key() == s->plan.key(); });
    if (!kept) {
      log::debug("stopping service {}", s->plan.key());
      close_service(*s);
    }
  }
  for (auto& p : plan->services) {
    auto it = std::find_if(old.begin(), old.end(),
                           [&](const auto& s) { return s && s->plan.key() == p.key() && !s->listeners.empty(); });
    std::unique_ptr<Service> s;
    std::vector<Listener> reuse;
    if (it != old.end()) {
      s = std::move(*it);
      for (auto& l : s->listeners) loop_.unwatch(l.fd.get());
      reuse = std::move(s->listeners);
      s->listeners.clear();
      // Close what is not kept now: a new address may need the same port.
      std::erase_if(reuse, [&](const Listener& l) {
        return std::find(p.endpoints.begin(), p.endpoints.end(), l.endpoint) == p.endpoints.end();
      });
      if (s->throttle_timer) loop_.cancel_timer(s->throttle_timer);
      if (s->wakeup_timer) loop_.cancel_timer(s->wakeup_timer);
      s->throttle_timer = s->wakeup_timer = 0;
      s->throttled = false;
      retire_children(*s);
    } else {
      s = std::make_unique<Service>();
    }
    s->plan = p;
    if (auto st = open_listeners(*s, &reuse); !st) {
      log::error("service {}: {}", p.key(), st.error().text);
      close_service(*s);
      continue;
    }
    if (auto st = open_status_pipe(*s); !st) {
      log::error("service {}: {}", p.key(), st.error().text);
      close_service(*s);
      continue;
    }
    services_.push_back(std::move(s));
  }
  // `old` still owns services that were removed; their children are retired,
  // so nothing points at them any more.
  for (auto& s : services_) {
    schedule_wakeup(*s, /*now=*/true);  // only services without a timer: new ones
    update_listen(*s);
  }
}

void Master::stop(int signal) {
  log::info("terminating on signal {}", signal);
  stopping_ = true;
  for (auto& s : services_) close_service(*s);
  for (auto& [pid, c] : children_) ::kill(pid, SIGTERM);
  // Give the children a few seconds (none on abort), then force them.
  for (int i = 0; i < (signal == SIGQUIT ? 0 : 50) && !children_.empty(); ++i) {
    reap();
    if (!children_.empty()) ::usleep(100000);
  }
  for (auto& [pid, c] : children_) ::kill(pid, SIGKILL);
  while (!children_.empty()) {
    pid_t pid = ::waitpid(-1, nullptr, 0);
    if (pid < 0) break;
    children_.erase(pid);
  }
  loop_.stop();
}

int Master::run(int exit_after_seconds) {
  if (exit_after_seconds > 0)
    loop_.add_timer(std::chrono::seconds(exit_after_seconds), [this] {
      log::info("master exit time has arrived");
      stop(SIGTERM);
    });
  reap();  // children that ended before the handler was installed
  loop_.run();
  return exit_status_;
}

}  // namespace postern
