#include "master/master_plan.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "util/inet.h"
#include "util/strings.h"
#include "util/unique_fd.h"

namespace postern {
namespace {

std::string where(const Config& cfg, const MasterService& s) {
  return fmt::format("{}: line {}", cfg.master_cf_path(), s.line);
}

Result<int> parse_port(std::string_view text) {
  if (auto n = parse_long(text)) {
    if (*n < 0 || *n > 65535) return fail(Errc::kInvalid, fmt::format("bad port number: {}", text));
    return static_cast<int>(*n);
  }
  std::string name(text);
  servent* se = ::getservbyname(name.c_str(), "tcp");
  if (!se) return fail(Errc::kInvalid, fmt::format("unknown service: {}/tcp", text));
  return static_cast<int>(ntohs(static_cast<uint16_t>(se->s_port)));
}

struct Families {
  bool v4 = false;
  bool v6 = false;
};

Result<Families> parse_protocols(std::string_view protocols, const PlanEnvironment& env) {
  Families f;
  for (auto p : split(protocols)) {
    std::string word = lowercase(p);
    if (word == "all") {
      f.v4 = true;
      f.v6 = env.ipv6_supported;
    } else if (word == "ipv4") {
      f.v4 = true;
    } else if (word == "ipv6") {
      f.v6 = true;
    } else {
      return fail(Errc::kInvalid, fmt::format("bad inet_protocols value: {}", protocols));
    }
  }
  if (!f.v4 && !f.v6) return fail(Errc::kInvalid, "inet_protocols: no address family enabled");
  return f;
}

// Numeric addresses of `host` in the enabled families (a literal, or a name).
Result<std::vector<std::string>> host_addresses(std::string_view host, const Families& f) {
  std::vector<std::string> out;
  if (auto ip = IpAddress::parse(host)) {
    if ((ip->is_v4() && f.v4) || (ip->is_v6() && f.v6)) out.push_back(ip->to_string());
    else return fail(Errc::kInvalid, fmt::format("{}: address family disabled by inet_protocols", host));
    return out;
  }
  addrinfo hints{};
  hints.ai_family = f.v4 && f.v6 ? AF_UNSPEC : (f.v4 ? AF_INET : AF_INET6);
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string name(host);
  if (int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &res); rc != 0)
    return fail(Errc::kInvalid, fmt::format("host not found: {}: {}", host, ::gai_strerror(rc)));
  for (addrinfo* a = res; a; a = a->ai_next) {
    std::string text = IpAddress::from_sockaddr(a->ai_addr).to_string();
    if (std::find(out.begin(), out.end(), text) == out.end()) out.push_back(text);
  }
  ::freeaddrinfo(res);
  return out;
}

}  // namespace

std::string Endpoint::key() const {
  switch (kind) {
    case ListenKind::kInet:
      return host.find(':') == std::string::npos ? fmt::format("inet:{}:{}", host, port)
                                                 : fmt::format("inet:[{}]:{}", host, port);
    case ListenKind::kUnix: return "unix:" + path;
    case ListenKind::kUnixDgram: return "unix-dgram:" + path;
    case ListenKind::kFifo: return "fifo:" + path;
    case ListenKind::kPass: return "pass:" + path;
  }
  return path;
}

PlanEnvironment detect_plan_environment() {
  PlanEnvironment env;
  UniqueFd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  env.ipv6_supported = probe.valid();
  return env;
}

Result<std::vector<Endpoint>> inet_endpoints(std::string_view service, std::string_view interfaces,
                                             std::string_view protocols,
                                             const PlanEnvironment& env) {
  auto fams = parse_protocols(protocols, env);
  if (!fams) return std::unexpected(fams.error());
  std::string_view host_part, port_part = service;
  if (service.starts_with("[")) {
    auto close = service.find("]:");
    if (close == std::string_view::npos) return fail(Errc::kInvalid, fmt::format("bad service address: {}", service));
    host_part = service.substr(1, close - 1);
    port_part = service.substr(close + 2);
  } else if (auto colon = service.rfind(':'); colon != std::string_view::npos) {
    host_part = service.substr(0, colon);
    port_part = service.substr(colon + 1);
  }
  auto port = parse_port(port_part);
  if (!port) return std::unexpected(port.error());
  std::vector<std::string> hosts;
  if (!host_part.empty()) {
    auto a = host_addresses(host_part, *fams);
    if (!a) return std::unexpected(a.error());
    hosts = *a;
  } else {
    std::string ifs = lowercase(trim(interfaces));
    if (ifs == "all" || ifs.empty()) {
      if (fams->v4) hosts.push_back("0.0.0.0");
      if (fams->v6) hosts.push_back("::");
    } else if (ifs == "loopback-only") {
      if (fams->v4) hosts.push_back("127.0.0.1");
      if (fams->v6) hosts.push_back("::1");
    } else {
      for (auto item : split(interfaces)) {
        auto a = host_addresses(item, *fams);
        if (!a) return std::unexpected(a.error());
        for (auto& h : *a)
          if (std::find(hosts.begin(), hosts.end(), h) == hosts.end()) hosts.push_back(h);
      }
    }
  }
  std::vector<Endpoint> out;
  for (auto& h : hosts) out.push_back(Endpoint{ListenKind::kInet, "", h, *port});
  return out;
}

Result<MasterPlan> plan_services(const Config& cfg, const PlanEnvironment& env) {
  MasterPlan plan;
  std::string queue_dir = cfg.get("queue_directory");
  std::string daemon_dir = cfg.get("daemon_directory");
  long long default_limit = cfg.get_int("default_process_limit");
  std::vector<std::string> disabled;
  const std::string disable_list = cfg.get("master_service_disable");
  for (auto d : split(disable_list)) disabled.emplace_back(d);
  auto is_disabled = [&](const MasterService& s) {
    for (const auto& d : disabled)
      if (d == s.key() || d == s.name + "/" || d == "/" + s.type || d == s.type) return true;
    return false;
  };
  for (const MasterService& s : effective_services(cfg.master_services())) {
    if (s.command.empty()) return fail(Errc::kInvalid, where(cfg, s) + ": missing command");
    if (is_disabled(s)) continue;
    ServicePlan p;
    p.name = s.name;
    p.type = s.type;
    p.line = s.line;
    p.unprivileged = s.is_unprivileged();
    p.chroot = s.is_chrooted();
    p.wakeup = s.wakeup_seconds();
    p.wakeup_after_use = s.wakeup_after_use();
    int maxproc = s.maxproc();
    p.maxproc = maxproc < 0 ? static_cast<int>(default_limit) : maxproc;
    const std::string& cmd = s.program();
    p.program_path = cmd.starts_with("/") ? cmd : daemon_dir + "/" + cmd;

    std::string dir = queue_dir + (s.is_private() ? "/private/" : "/public/");
    if (s.type == "inet") {
      auto eps = inet_endpoints(s.name, cfg.get("inet_interfaces"), cfg.get("inet_protocols"), env);
      if (!eps) return fail(Errc::kInvalid, where(cfg, s) + ": " + eps.error().text);
      p.endpoints = std::move(*eps);
      if (p.wakeup > 0) {
        plan.warnings.push_back(fmt::format("{}: wakeup is not supported for inet services: {}",
                                            where(cfg, s), s.name));
        p.wakeup = 0;
      }
    } else if (s.type == "unix" || s.type == "unix-dgram" || s.type == "fifo" || s.type == "pass") {
      if (s.name.find('/') != std::string::npos)
        return fail(Errc::kInvalid, where(cfg, s) + ": bad service name: " + s.name);
      ListenKind kind = s.type == "unix"         ? ListenKind::kUnix
                        : s.type == "unix-dgram" ? ListenKind::kUnixDgram
                        : s.type == "fifo"       ? ListenKind::kFifo
                                                 : ListenKind::kPass;
      p.endpoints.push_back(Endpoint{kind, dir + s.name, "", 0});
    } else {
      return fail(Errc::kInvalid, where(cfg, s) + ": bad transport type: " + s.type);
    }

    p.argv.push_back(cmd);
    if (p.maxproc == 1) p.argv.push_back("-l");
    if (p.maxproc == 0) p.argv.push_back("-z");
    if (s.name != cmd) {
      p.argv.push_back("-n");
      p.argv.push_back(s.name);
    }
    p.argv.push_back("-t");
    p.argv.push_back(s.type);
    for (int i = 0; i < env.master_verbose; ++i) p.argv.push_back("-v");
    if (p.unprivileged) p.argv.push_back("-u");
    if (p.chroot) p.argv.push_back("-c");
    if (p.endpoints.size() > 1) {
      p.argv.push_back("-s");
      p.argv.push_back(std::to_string(p.endpoints.size()));
    }
    for (size_t i = 1; i < s.command.size(); ++i) p.argv.push_back(s.command[i]);
    if (::access(p.program_path.c_str(), X_OK) != 0)
      plan.warnings.push_back(fmt::format("{}: service {} ({}): cannot execute {}: {}", where(cfg, s),
                                          s.name, s.type, p.program_path, std::strerror(errno)));
    plan.services.push_back(std::move(p));
  }
  return plan;
}

}  // namespace postern
