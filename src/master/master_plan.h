// From master.cf and main.cf to what master runs: for each service its
// listening endpoints, the program and command line of its processes,
// and its limits. Pure planning, no sockets opened (testable).
//
// Endpoints: inet services listen on "[host:]port" (host given: that host
// only; else every address of inet_interfaces, for each family of
// inet_protocols); unix, unix-dgram, fifo and pass services on
// $queue_directory/{private,public}/name. The child command line follows
// Postfix's master: command, -l (maxproc 1), -z (maxproc 0), -n name (when
// it differs from the command), -t type, -v, -u (unprivileged), -c
// (chroot), -s N (N > 1 listeners), then master.cf's arguments.
#pragma once

#include <string>
#include <vector>

#include "global/config.h"
#include "global/master_cf.h"
#include "util/error.h"

namespace postern {

enum class ListenKind { kInet, kUnix, kUnixDgram, kFifo, kPass };

struct Endpoint {
  ListenKind kind = ListenKind::kUnix;
  std::string path;  // unix, unix-dgram, fifo, pass
  std::string host;  // inet: numeric address
  int port = 0;      // inet
  // A stable identity: equal keys mean the same socket ("inet:127.0.0.1:25", "inet:[::1]:25").
  std::string key() const;
  friend bool operator==(const Endpoint& a, const Endpoint& b) { return a.key() == b.key(); }
};

struct ServicePlan {
  std::string name;  // master.cf service field
  std::string type;
  int line = 0;
  std::vector<Endpoint> endpoints;
  bool unprivileged = true;
  bool chroot = false;
  int wakeup = 0;            // seconds; 0 = none
  bool wakeup_after_use = false;
  int maxproc = 100;         // 0 = unlimited
  std::string program_path;  // daemon_directory/command, or the absolute command
  std::vector<std::string> argv;
  std::string key() const { return name + "/" + type; }
};

struct MasterPlan {
  std::vector<ServicePlan> services;
  std::vector<std::string> warnings;  // problems that do not stop master
};

// Host facts the planner needs; tests pass their own.
struct PlanEnvironment {
  bool ipv6_supported = true;
  int master_verbose = 0;
};
PlanEnvironment detect_plan_environment();

// Plans every enabled service of `cfg` (master_service_disable honoured).
// Errors name master.cf's file and line ("bad port", unknown host).
Result<MasterPlan> plan_services(const Config& cfg, const PlanEnvironment& env);

// The inet endpoints of one service name ("25", "smtp", "127.0.0.1:2525",
// "[::1]:25") given inet_interfaces and inet_protocols values.
Result<std::vector<Endpoint>> inet_endpoints(std::string_view service, std::string_view interfaces,
                                             std::string_view protocols,
                                             const PlanEnvironment& env);

}  // namespace postern
