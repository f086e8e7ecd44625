// The service skeletons every daemon that master runs is built on.
//
// A daemon's main() names its kind and its handler; the skeleton does the
// rest: the command line master passes (-n service -t type -o name=value
// -s N -u -c -l -z -v -d -S), main.cf with the -o overrides (config
// directory from MAIL_CONFIG), logging, chdir to queue_directory, the
// privilege drop (mail_owner and chroot, only when running as root),
// status reports to master, max_use, max_idle, daemon_timeout and exit
// when master goes away.
//
// Descriptors from master (Postfix's convention, COMPAT.md section 5):
// fd 5 is the write end of the service's status pipe, fds 6.. are the
// listeners (-s N of them). A status report is the native-endian
// struct { int pid; unsigned gen; int avail; }: avail 1 = idle, 0 = busy.
// EOF on the pipe (master exited, or reload retired this generation)
// makes an idle process exit.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "global/config.h"
#include "util/error.h"
#include "util/event_loop.h"
#include "util/log.h"
#include "util/unique_fd.h"

namespace postern {

inline constexpr int kMasterStatusFd = 5;
inline constexpr int kMasterListenFd = 6;

// The message a service writes to its status pipe.
struct MasterStatus {
  int pid;
  unsigned gen;
  int avail;
};

// The command line of a service, as master builds it.
struct ServiceArgs {
  std::string program;       // basename of argv[0] (or the name given by main)
  std::string service_name;  // -n; default: program
  std::string service_type = "unix";  // -t: inet unix unix-dgram fifo pass
  std::vector<std::pair<std::string, std::string>> overrides;  // -o name=value
  int verbose = 0;            // -v (repeatable)
  int socket_count = 1;       // -s N
  bool unprivileged = false;  // -u: run as mail_owner
  bool chroot = false;        // -c: chroot to queue_directory
  bool solitary = false;      // -l: master runs at most one
  bool unlimited = false;     // -z: master runs any number
  bool debug = false;         // -d: log to stderr as well
  bool stand_alone = false;   // -S: no master; stdin is the one client
  std::vector<std::string> args;  // what follows the options
};

// Parses argv; unknown options and malformed -o values are errors.
Result<ServiceArgs> parse_service_args(int argc, char** argv, std::string_view program);

// Logging settings derived from main.cf (syslog_name, maillog_file, the
// postlog socket under queue_directory, the first label of myhostname).
log::Settings mail_log_settings(const Config& cfg);

class ServiceContext {
 public:
  const ServiceArgs& args() const { return args_; }
  EventLoop& loop() { return loop_; }
  const Config& cfg() const { return config(); }
  // Seconds allowed for one internal request ($ipc_timeout).
  int ipc_timeout() const { return ipc_timeout_; }
  // Stops taking new work; the process exits once it is idle.
  void request_exit() { exit_requested_ = true; }
  bool exit_requested() const { return exit_requested_; }

 private:
  friend class ServerCore;
  ServiceArgs args_;
  EventLoop loop_;
  int ipc_timeout_ = 3600;
  bool exit_requested_ = false;
};

struct ServiceHooks {
  // Runs with full privileges, after main.cf is read and before chroot/setuid.
  std::function<void(ServiceContext&)> pre_init;
  // Runs after privileges are dropped, before the first client.
  std::function<void(ServiceContext&)> post_init;
  // A persistent service (qmgr) ignores max_idle and max_use.
  bool persistent = false;
};

// One client at a time: the handler owns the connection until it returns.
// For "pass" services the handler gets the passed descriptor.
using StreamHandler = std::function<void(UniqueFd client, ServiceContext& ctx)>;
// Many clients at once: the handler registers the client with ctx.loop()
// and calls `done` once when the client is finished. The process stays
// available to master while it serves (as Postfix's multi_server does);
// max_use counts clients, max_idle runs while no client is connected.
using MultiHandler =
    std::function<void(UniqueFd client, ServiceContext& ctx, std::function<void()> done)>;
// A trigger (a few bytes such as "W"): from a unix connection or a fifo.
using TriggerHandler = std::function<void(std::string_view data, ServiceContext& ctx)>;
// One datagram from a unix-dgram listener.
using DgramHandler = std::function<void(std::string_view datagram, ServiceContext& ctx)>;

// Each runs the service until it exits; the return value is the exit status.
int single_server_main(int argc, char** argv, std::string_view program, StreamHandler handler,
                       ServiceHooks hooks = {});
int multi_server_main(int argc, char** argv, std::string_view program, MultiHandler handler,
                      ServiceHooks hooks = {});
int trigger_server_main(int argc, char** argv, std::string_view program, TriggerHandler handler,
                        ServiceHooks hooks = {});
int dgram_server_main(int argc, char** argv, std::string_view program, DgramHandler handler,
                      ServiceHooks hooks = {});

}  // namespace postern
