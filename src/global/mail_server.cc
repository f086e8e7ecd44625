// The service skeletons (single, multi, trigger, datagram) over one core
// that handles start-up, privileges, status reports and process life time.
#include "global/mail_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "util/files.h"
#include "util/process.h"
#include "util/socket.h"
#include "util/stream.h"
#include "util/strings.h"

namespace postern {

// Start-up and the life cycle shared by all skeleton kinds.
class ServerCore {
 public:
  ServerCore(int argc, char** argv, std::string_view program, ServiceHooks hooks)
      : hooks_(std::move(hooks)) {
    init(argc, argv, program);
  }

  ServiceContext& ctx() { return ctx_; }
  const std::vector<int>& listeners() const { return listeners_; }
  bool stand_alone() const { return ctx_.args_.stand_alone; }

  // Reports idle/busy to master (no-op without master).
  void notify(bool avail) {
    if (!with_master_) return;
    MasterStatus st{static_cast<int>(::getpid()), generation_, avail ? 1 : 0};
    ssize_t n;
    do {
      n = ::write(kMasterStatusFd, &st, sizeof st);
    } while (n < 0 && errno == EINTR);
  }

  // Called before a unit of work (a client, a trigger).
  void begin_work() {
    cancel_idle();
    notify(false);
    ::alarm(static_cast<unsigned>(daemon_timeout_));
  }
  // Called after it; exits when max_use is reached or exit was requested.
  void end_work() {
    ::alarm(0);
    ++use_count_;
    if (ctx_.exit_requested_ || master_gone_) finish();
    if (!hooks_.persistent && max_use_ > 0 && use_count_ >= max_use_) {
      log::debug("max_use {} reached", max_use_);
      finish();
    }
    notify(true);
    arm_idle();
  }

  // Multi-client servers stay available while they serve: each client is
  // reported (so master knows the process works) and the process is idle
  // again at once. Returns true when max_use is reached (take no more).
  bool client_accepted() {
    cancel_idle();
    notify(false);
    ++use_count_;
    bool full = !hooks_.persistent && max_use_ > 0 && use_count_ >= max_use_;
    if (full || ctx_.exit_requested_) return true;
    notify(true);
    return false;
  }
  // The last client of a multi-client server left.
  void clients_gone() {
    bool full = !hooks_.persistent && max_use_ > 0 && use_count_ >= max_use_;
    if (full || ctx_.exit_requested_ || master_gone_) finish();
    arm_idle();
  }

  // Watches the status pipe and arms the idle timer, then runs the loop.
  int run(const std::function<bool()>& idle = [] { return true; }) {
    idle_check_ = idle;
    if (with_master_) {
      ctx_.loop_.watch_read(kMasterStatusFd, [this] {
        master_gone_ = true;
        ctx_.loop_.unwatch(kMasterStatusFd);
        if (idle_check_()) finish();
      });
    }
    notify(true);
    arm_idle();
    ctx_.loop_.run();
    return 0;
  }

  [[noreturn]] void finish() {
    log::debug("exiting after {} uses", use_count_);
    std::exit(0);
  }

  void arm_idle() {
    cancel_idle();
    if (hooks_.persistent || max_idle_ <= 0 || stand_alone()) return;
    idle_timer_ = ctx_.loop_.add_timer(std::chrono::seconds(max_idle_), [this] {
      idle_timer_ = 0;
      if (idle_check_()) {
        log::debug("idle timeout -- exiting");
        finish();
      }
    });
  }
  void cancel_idle() {
    if (idle_timer_) ctx_.loop_.cancel_timer(idle_timer_);
    idle_timer_ = 0;
  }

 private:
  void init(int argc, char** argv, std::string_view program) {
    std::string name(program.empty() ? basename_of(argv[0]) : std::string(program));
    log::init(name);
    auto args = parse_service_args(argc, argv, name);
    if (!args) {
      log::set_stderr(name);
      log::fatal("{}", args.error().text);
    }
    ctx_.args_ = std::move(*args);
    const ServiceArgs& a = ctx_.args_;
    if (a.debug || a.stand_alone) log::set_stderr(name);
    log::set_verbose(a.verbose);
    ::signal(SIGPIPE, SIG_IGN);

    auto cfg = Config::load(default_config_directory());
    if (!cfg) log::fatal("{}", cfg.error().text);
    cfg->set_process_name(name);
    cfg->set_override("service_name", a.service_name);
    for (const auto& [k, v] : a.overrides) cfg->set_override(k, v);
    set_config(std::move(*cfg));
    const Config& c = config();
    log::Settings settings = mail_log_settings(c);
    log::configure(settings);

    with_master_ = !a.stand_alone && ::fcntl(kMasterStatusFd, F_GETFD) >= 0;
    if (!a.stand_alone && !with_master_)
      log::fatal("no master status descriptor: {} runs under master(8), or stand-alone with -S",
                 name);
    if (with_master_) {
      for (int i = 0; i < a.socket_count; ++i) {
        int fd = kMasterListenFd + i;
        if (::fcntl(fd, F_GETFD) < 0) log::fatal("listener descriptor {} is not open", fd);
        set_close_on_exec(fd, true);
        listeners_.push_back(fd);
      }
      set_close_on_exec(kMasterStatusFd, true);
    }
    if (const char* g = std::getenv("GENERATION"); g && *g)
      generation_ = static_cast<unsigned>(std::strtoul(g, nullptr, 8));
    max_idle_ = static_cast<int>(c.get_time("max_idle"));
    max_use_ = static_cast<int>(c.get_int("max_use"));
    daemon_timeout_ = static_cast<int>(c.get_time("daemon_timeout"));
    ctx_.ipc_timeout_ = static_cast<int>(c.get_time("ipc_timeout"));

    std::string queue_dir = c.get("queue_directory");
    if (::chdir(queue_dir.c_str()) < 0)
      log::fatal("chdir {}: {}", queue_dir, std::strerror(errno));
    if (hooks_.pre_init) hooks_.pre_init(ctx_);
    drop_privileges_as_configured(queue_dir);
    if (hooks_.post_init) hooks_.post_init(ctx_);
  }

  // The one place a service gives up root: mail_owner, then chroot if -c.
  void drop_privileges_as_configured(const std::string& queue_dir) {
    const ServiceArgs& a = ctx_.args_;
    if (::geteuid() != 0) return;  // unprivileged instance: already the right user
    std::string chroot_dir = a.chroot ? queue_dir : std::string();
    if (!a.unprivileged) {
      if (!chroot_dir.empty()) {
        if (::chroot(chroot_dir.c_str()) < 0 || ::chdir("/") < 0)
          log::fatal("chroot({}): {}", chroot_dir, std::strerror(errno));
      }
    } else {
      std::string owner = config().get("mail_owner");
      auto user = lookup_user(owner);
      if (!user) log::fatal("file {}/main.cf: parameter mail_owner: unknown user name value: {}",
                            config().config_dir(), owner);
      if (user->uid == 0) log::fatal("mail_owner must not be the super-user");
      if (auto s = drop_privileges(user->uid, user->gid, chroot_dir); !s)
        log::fatal("{}", s.error().text);
    }
    if (!chroot_dir.empty()) {
      // Inside the jail the queue directory is "/": so is the postlog socket's path.
      log::Settings s = mail_log_settings(config());
      if (s.postlog_socket.starts_with(queue_dir + "/"))
        s.postlog_socket = s.postlog_socket.substr(queue_dir.size());
      log::configure(s);
    }
  }

  ServiceHooks hooks_;
  ServiceContext ctx_;
  std::vector<int> listeners_;
  std::function<bool()> idle_check_ = [] { return true; };
  bool with_master_ = false;
  bool master_gone_ = false;
  unsigned generation_ = 0;
  int max_idle_ = 100;
  int max_use_ = 100;
  int daemon_timeout_ = 18000;
  int use_count_ = 0;
  EventLoop::TimerId idle_timer_ = 0;
};

namespace {

// Accepts a connection on a stream listener; for "pass" services, takes the
// descriptor the client passes. An empty fd means nothing was waiting.
UniqueFd take_client(int listen_fd, ServiceContext& ctx) {
  auto conn = accept_connection(listen_fd);
  if (!conn) {
    if (conn.error().code != Errc::kTemporary) log::warn("{}", conn.error().text);
    return UniqueFd();
  }
  if (ctx.args().service_type != "pass") return std::move(*conn);
  auto passed = receive_fd(conn->get(), Clock::now() + std::chrono::seconds(ctx.ipc_timeout()));
  if (!passed) {
    log::warn("{}", passed.error().text);
    return UniqueFd();
  }
  return std::move(*passed);
}

// Reads a trigger request: everything a client writes before it closes,
// at most 1024 bytes, within $trigger_timeout.
std::string read_trigger(UniqueFd conn, int timeout) {
  std::string data;
  Deadline deadline = Clock::now() + std::chrono::seconds(timeout);
  set_nonblocking(conn.get(), true);
  char buf[1024];
  while (data.size() < sizeof buf) {
    ssize_t n = ::read(conn.get(), buf, sizeof buf - data.size());
    if (n > 0) {
      data.append(buf, n);
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN || !wait_fd(conn.get(), POLLIN, deadline)) break;
  }
  return data;
}

}  // namespace

int single_server_main(int argc, char** argv, std::string_view program, StreamHandler handler,
                       ServiceHooks hooks) {
  ServerCore core(argc, argv, program, std::move(hooks));
  ServiceContext& ctx = core.ctx();
  if (core.stand_alone()) {
    handler(UniqueFd(::dup(STDIN_FILENO)), ctx);
    return 0;
  }
  for (int fd : core.listeners()) {
    ctx.loop().watch_read(fd, [&core, &ctx, &handler, fd] {
      UniqueFd client = take_client(fd, ctx);
      if (!client) return;
      core.begin_work();
      handler(std::move(client), ctx);
      core.end_work();
    });
  }
  return core.run();
}

int multi_server_main(int argc, char** argv, std::string_view program, MultiHandler handler,
                      ServiceHooks hooks) {
  ServerCore core(argc, argv, program, std::move(hooks));
  ServiceContext& ctx = core.ctx();
  int clients = 0;
  if (core.stand_alone()) {
    handler(UniqueFd(::dup(STDIN_FILENO)), ctx, [&ctx] { ctx.loop().stop(); });
    ctx.loop().run();
    return 0;
  }
  // Called once per client when it is finished.
  auto done_fn = [&core, &clients] {
    if (--clients == 0) core.clients_gone();
  };
  for (int fd : core.listeners()) {
    ctx.loop().watch_read(fd, [&core, &ctx, &handler, &clients, done_fn, fd] {
      if (ctx.exit_requested()) return;
      UniqueFd client = take_client(fd, ctx);
      if (!client) return;
      ++clients;
      // Past max_use: finish the clients we have, take no new ones.
      if (core.client_accepted()) {
        for (int l : core.listeners()) ctx.loop().unwatch(l);
      }
      auto once = std::make_shared<bool>(false);
      handler(std::move(client), ctx, [done_fn, once] {
        if (*once) return;
        *once = true;
        done_fn();
      });
    });
  }
  return core.run([&clients] { return clients == 0; });
}

int trigger_server_main(int argc, char** argv, std::string_view program, TriggerHandler handler,
                        ServiceHooks hooks) {
  ServerCore core(argc, argv, program, std::move(hooks));
  ServiceContext& ctx = core.ctx();
  if (core.stand_alone()) {
    handler(read_trigger(UniqueFd(::dup(STDIN_FILENO)), ctx.ipc_timeout()), ctx);
    return 0;
  }
  bool fifo = ctx.args().service_type == "fifo";
  int trigger_timeout = static_cast<int>(ctx.cfg().get_time("trigger_timeout"));
  for (int fd : core.listeners()) {
    ctx.loop().watch_read(fd, [&core, &ctx, &handler, fd, fifo, trigger_timeout] {
      std::string data;
      if (fifo) {
        char buf[1024];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return;
        data.assign(buf, n);
      } else {
        // Every client that is waiting, not one per turn of the loop: a
        // busy service must not leave its triggers' senders queued up.
        for (int i = 0; i < 1000; ++i) {
          UniqueFd client = take_client(fd, ctx);
          if (!client) break;
          std::string more = read_trigger(std::move(client), trigger_timeout);
          core.begin_work();
          handler(more, ctx);
          core.end_work();
        }
        return;
      }
      core.begin_work();
      handler(data, ctx);
      core.end_work();
    });
  }
  return core.run();
}

int dgram_server_main(int argc, char** argv, std::string_view program, DgramHandler handler,
                      ServiceHooks hooks) {
  ServerCore core(argc, argv, program, std::move(hooks));
  ServiceContext& ctx = core.ctx();
  if (core.stand_alone()) log::fatal("{} cannot run stand-alone", ctx.args().program);
  for (int fd : core.listeners()) {
    ctx.loop().watch_read(fd, [&core, &ctx, &handler, fd] {
      core.cancel_idle();
      std::string buf(65536, '\0');
      for (int i = 0; i < 100; ++i) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) break;
        handler(std::string_view(buf.data(), static_cast<size_t>(n)), ctx);
      }
      core.arm_idle();
    });
  }
  return core.run();
}

}  // namespace postern
