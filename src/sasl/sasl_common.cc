#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "global/config.h"
#include "sasl/sasl_internal.h"
#include "util/strings.h"

namespace postern::sasl {

Result<SecurityOptions> parse_security_options(std::string_view param, std::string_view value) {
  SecurityOptions o;
  for (auto word : split(value)) {
    std::string w = lowercase(word);
    if (w == "noanonymous") o.noanonymous = true;
    else if (w == "noplaintext") o.noplaintext = true;
    else if (w == "noactive") o.noactive = true;
    else if (w == "nodictionary") o.nodictionary = true;
    else if (w == "mutual_auth") o.mutual_auth = true;
    else if (w == "forward_secrecy") o.forward_secrecy = true;
    else
      return fail(Errc::kInvalid,
                  fmt::format("unknown {} value \"{}\"", param, std::string(word)));
  }
  return o;
}

std::vector<std::string> filter_mechanisms(const std::vector<std::string>& mechs,
                                           std::string_view filter) {
  auto entries = split(filter);
  if (entries.empty()) return mechs;
  std::vector<std::string> out;
  for (const auto& mech : mechs) {
    for (auto e : entries) {
      bool negate = e.starts_with('!');
      if (negate) e.remove_prefix(1);
      bool match = iequals(e, mech) || iequals(e, "static:rest") || iequals(e, "static:all");
      if (!match) continue;
      if (!negate) out.push_back(mech);
      break;
    }
  }
  return out;
}

std::vector<std::string> server_types() { return {"cyrus", "dovecot"}; }

std::string smtp_reply(const ServerReply& r) {
  switch (r.kind) {
    case ServerReply::Kind::kSuccess: return "235 2.7.0 Authentication successful";
    case ServerReply::Kind::kContinue: return "334 " + r.challenge;
    case ServerReply::Kind::kFailure: break;
  }
  if (r.temporary) return "454 4.7.0 Temporary authentication failure: " + r.reason;
  return "535 5.7.8 Error: authentication failed: " + r.reason;
}

Result<std::unique_ptr<ServerBackend>> ServerBackend::create(const Config& cfg,
                                                             std::string_view prefix_view) {
  std::string prefix(prefix_view);
  detail::ServerSettings s;
  auto get = [&](const std::string& name) -> Result<std::string> {
    auto v = cfg.expand(name);
    if (!v) return std::unexpected(v.error());
    return std::string(trim(*v));
  };
  auto type = get(prefix + "_sasl_type");
  auto path = get(prefix + "_sasl_path");
  auto service = get(prefix + "_sasl_service");
  auto hostname = get("myhostname");
  auto realm = get(prefix + "_sasl_local_domain");
  auto config_path = get("cyrus_sasl_config_path");
  auto filter = get(prefix + "_sasl_mechanism_filter");
  auto options = get(prefix + "_sasl_security_options");
  auto tls_options = get(prefix + "_sasl_tls_security_options");
  for (auto* r : {&type, &path, &service, &hostname, &realm, &config_path, &filter, &options,
                  &tls_options})
    if (!*r) return std::unexpected(r->error());
  s.type = lowercase(*type);
  s.path = *path;
  s.configured_path = *path;
  s.service = service->empty() ? "smtp" : *service;
  s.hostname = *hostname;
  s.realm = *realm;
  s.config_path = *config_path;
  s.filter = *filter;
  auto o = parse_security_options(prefix + "_sasl_security_options", *options);
  if (!o) return std::unexpected(o.error());
  s.options = *o;
  auto t = parse_security_options(prefix + "_sasl_tls_security_options", *tls_options);
  if (!t) return std::unexpected(t.error());
  s.tls_options = *t;
  if (s.type == "cyrus") return detail::make_cyrus_server(s);
  if (s.type == "dovecot") {
    // A relative path names a socket under the queue directory.
    if (!s.path.starts_with('/') && !s.path.starts_with("inet:") && !s.path.starts_with("unix:")) {
      auto queue = get("queue_directory");
      if (!queue) return std::unexpected(queue.error());
      s.path = *queue + "/" + s.path;
    }
    return detail::make_dovecot_server(s);
  }
  return fail(Errc::kInvalid, fmt::format("unsupported SASL server implementation: {} "
                                          "(available: cyrus, dovecot)",
                                          *type));
}

namespace detail {

ServerReply malformed_reply(std::string reason) {
  ServerReply r;
  r.kind = ServerReply::Kind::kFailure;
  r.malformed = true;
  r.reason = std::move(reason);
  return r;
}

namespace {

Result<UniqueFd> finish_connect(UniqueFd fd, const sockaddr* sa, socklen_t len,
                                const std::string& endpoint, Deadline deadline) {
  if (::connect(fd.get(), sa, len) == 0) return fd;
  if (errno != EINPROGRESS && errno != EAGAIN) return sys_fail("connect to " + endpoint);
  if (auto w = wait_fd(fd.get(), POLLOUT, deadline); !w)
    return fail(w.error().code, "connect to " + endpoint + ": " + w.error().text);
  int err = 0;
  socklen_t elen = sizeof err;
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err) return std::unexpected(sys_error("connect to " + endpoint, err));
  return fd;
}

}  // namespace

Result<UniqueFd> connect_endpoint(const std::string& endpoint, Deadline deadline) {
  if (endpoint.starts_with("inet:")) {
    std::string hp = endpoint.substr(5);
    size_t colon = hp.rfind(':');
    if (colon == std::string::npos) return fail(Errc::kInvalid, "bad endpoint: " + endpoint);
    std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0)
      return fail(Errc::kTemporary, "connect to " + endpoint + ": " + gai_strerror(rc));
    Result<UniqueFd> last = fail(Errc::kTemporary, "connect to " + endpoint + ": no address");
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd) continue;
      last = finish_connect(std::move(fd), ai->ai_addr, ai->ai_addrlen, endpoint, deadline);
      if (last) break;
    }
    freeaddrinfo(res);
    return last;
  }
  std::string path = endpoint.starts_with("unix:") ? endpoint.substr(5) : endpoint;
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) return fail(Errc::kInvalid, "socket path too long: " + path);
  std::memcpy(sun.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sys_fail("socket");
  return finish_connect(std::move(fd), reinterpret_cast<sockaddr*>(&sun), sizeof sun, path,
                        deadline);
}

}  // namespace detail
}  // namespace postern::sasl
