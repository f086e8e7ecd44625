// Client side of Dovecot's authentication protocol (auth-client, version 1):
//   → VERSION 1 1, CPID <pid>
//   ← VERSION 1 x, MECH <name> [flags...]..., SPID, CUID, COOKIE, DONE
//   → AUTH <id> <mech> service=smtp nologin lip= rip= [secured] [resp=<b64>]
//   ← OK <id> user=<name> | CONT <id> <b64> | FAIL <id> [reason=..] [temp]
//   → CONT <id> <b64>
// Fields are TAB separated; values are escaped with \t \n \\ (\001 → \1).
#include <unistd.h>

#include <csignal>

#include <fmt/format.h>

#include "sasl/base64.h"
#include "sasl/sasl_internal.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::sasl::detail {

namespace {

using namespace std::chrono_literals;
constexpr auto kTimeout = 30s;
constexpr size_t kLineLimit = 64 * 1024;

struct Mech {
  std::string name;
  std::vector<std::string> flags;
  bool has(std::string_view f) const {
    for (const auto& x : flags)
      if (x == f) return true;
    return false;
  }
};

std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    out += c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == '1' ? '\001' : c;
  }
  return out;
}

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\\') out += "\\\\";
    else if (c == '\001') out += "\\1";
    else out += c;
  }
  return out;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  return out;
}

ServerReply temp_failure(std::string reason) {
  ServerReply r;
  r.kind = ServerReply::Kind::kFailure;
  r.temporary = true;
  r.reason = std::move(reason);
  return r;
}

class DovecotBackend;

class DovecotSession : public Session {
 public:
  DovecotSession(DovecotBackend* backend, ConnectionInfo conn) : backend_(backend), conn_(std::move(conn)) {}
  std::vector<std::string> mechanisms() const override;
  ServerReply start(std::string_view mech, std::optional<std::string_view> initial) override;
  ServerReply step(std::string_view response) override;

 private:
  DovecotBackend* backend_;
  ConnectionInfo conn_;
  unsigned id_ = 0;
};

class DovecotBackend : public ServerBackend {
 public:
  explicit DovecotBackend(ServerSettings s) : settings_(std::move(s)) {}
  std::string_view type() const override { return "dovecot"; }

  Result<std::unique_ptr<Session>> open(const ConnectionInfo& conn) override {
    if (auto c = ensure_connected(); !c) return std::unexpected(c.error());
    return std::make_unique<DovecotSession>(this, conn);
  }

  // Connects and reads the mechanism list unless already connected.
  Status ensure_connected() {
    if (stream_) return {};
    auto deadline = Clock::now() + kTimeout;
    auto fd = connect_endpoint(settings_.path, deadline);
    if (!fd) {
      std::string why = fd.error().text;  // "connect to PATH: reason"
      if (size_t colon = why.find(": "); why.starts_with("connect to ") && colon != std::string::npos)
        why.erase(0, colon + 2);
      log::warn("SASL: Connect to Dovecot auth socket '{}' failed: {}", settings_.configured_path,
                why);
      return fail(Errc::kTemporary, "Connect to Dovecot auth socket '" + settings_.configured_path +
                                        "' failed: " + why);
    }
    stream_ = std::make_unique<Stream>(Stream::from_fd(std::move(*fd)));
    stream_->set_timeout(kTimeout);
    mechs_.clear();
    auto bad = [&](std::string why) {
      stream_.reset();
      log::warn("SASL: Dovecot auth socket '{}': {}", settings_.configured_path, why);
      return fail(Errc::kTemporary, why);
    };
    if (!stream_->write_flush(fmt::format("VERSION\t1\t1\nCPID\t{}\n", getpid())))
      return bad("lost connection to authentication server");
    for (;;) {
      bool complete = false;
      auto line = stream_->read_line(kLineLimit, &complete);
      if (!line) return bad("lost connection to authentication server: " + line.error().text);
      if (!complete) return bad("authentication server sent an over-long line");
      auto f = fields(*line);
      if (f[0] == "VERSION") {
        if (f.size() < 2 || f[1] != "1")
          return bad("authentication server protocol version " +
                     std::string(f.size() > 1 ? f[1] : "?") + " is not supported");
      } else if (f[0] == "MECH" && f.size() >= 2) {
        Mech m{uppercase(f[1]), {}};
        for (size_t i = 2; i < f.size(); ++i) m.flags.emplace_back(f[i]);
        mechs_.push_back(std::move(m));
      } else if (f[0] == "DONE") {
        break;
      }
    }
    return {};
  }

  std::vector<std::string> mechanisms(bool tls) const {
    const SecurityOptions& o = tls ? settings_.tls_options : settings_.options;
    std::vector<std::string> names;
    for (const auto& m : mechs_) {
      if (o.noanonymous && m.has("anonymous")) continue;
      if (o.noplaintext && m.has("plaintext")) continue;
      if (o.nodictionary && m.has("dictionary")) continue;
      if (o.noactive && m.has("active")) continue;
      if (o.forward_secrecy && !m.has("forward-secrecy")) continue;
      if (o.mutual_auth && !m.has("mutual-auth")) continue;
      if (m.has("private")) continue;
      names.push_back(m.name);
    }
    return filter_mechanisms(names, settings_.filter);
  }

  // Sends one request line and waits for the reply to request `id`.
  ServerReply exchange(const std::string& request, unsigned id) {
    if (auto c = ensure_connected(); !c) return temp_failure(c.error().text);
    if (!stream_->write_flush(request)) {
      stream_.reset();
      return temp_failure("Connection lost to authentication server");
    }
    for (;;) {
      bool complete = false;
      auto line = stream_->read_line(kLineLimit, &complete);
      if (!line || !complete) {
        stream_.reset();
        return temp_failure("Connection lost to authentication server");
      }
      auto f = fields(*line);
      if (f.size() < 2 || f[1] != std::to_string(id)) continue;  // a stale reply
      ServerReply r;
      if (f[0] == "OK") {
        r.kind = ServerReply::Kind::kSuccess;
        for (size_t i = 2; i < f.size(); ++i)
          if (f[i].starts_with("user=")) r.username = unescape(f[i].substr(5));
        return r;
      }
      if (f[0] == "CONT") {
        r.kind = ServerReply::Kind::kContinue;
        r.challenge = f.size() > 2 ? std::string(f[2]) : std::string();
        return r;
      }
      if (f[0] == "FAIL") {
        r.kind = ServerReply::Kind::kFailure;
        r.reason = "(reason unavailable)";  // Postfix's words when Dovecot gives none
        for (size_t i = 2; i < f.size(); ++i) {
          if (f[i].starts_with("reason=")) r.reason = unescape(f[i].substr(7));
          if (f[i] == "temp" || f[i] == "code=temp_fail") r.temporary = true;
          if (f[i].starts_with("user=")) r.username = unescape(f[i].substr(5));
        }
        return r;
      }
      stream_.reset();
      return temp_failure("unexpected reply from authentication server: " +
                          printable(std::string(f[0])));
    }
  }

  unsigned next_id() { return ++last_id_; }
  const ServerSettings& settings() const { return settings_; }
  bool has_mech(std::string_view name) const {
    for (const auto& m : mechs_)
      if (iequals(m.name, name)) return true;
    return false;
  }

 private:
  ServerSettings settings_;
  std::unique_ptr<Stream> stream_;
  std::vector<Mech> mechs_;
  unsigned last_id_ = 0;
};

std::vector<std::string> DovecotSession::mechanisms() const {
  return backend_->mechanisms(conn_.tls_active);
}

ServerReply DovecotSession::start(std::string_view mech, std::optional<std::string_view> initial) {
  std::string m = uppercase(mech);
  bool offered = false;
  for (const auto& name : mechanisms())
    if (name == m) offered = true;
  if (!offered) {
    ServerReply r;
    r.reason = "Invalid authentication mechanism";  // Dovecot's words
    return r;
  }
  // "=" (an empty initial response) goes to Dovecot as it is, as Postfix
  // sends it; Dovecot then fails PLAIN like Postfix's users see it.
  std::string resp;
  if (initial) {
    if (*initial != "=" && !base64_decode(*initial))
      return malformed_reply("Invalid base64 data in initial response");
    resp = std::string(*initial);
  }
  id_ = backend_->next_id();
  std::string req = fmt::format("AUTH\t{}\t{}\tservice={}\tnologin", id_, m,
                                escape(backend_->settings().service));
  if (!conn_.local_addr.empty()) req += "\tlip=" + escape(conn_.local_addr);
  if (!conn_.client_addr.empty()) req += "\trip=" + escape(conn_.client_addr);
  if (conn_.local_port) req += fmt::format("\tlport={}", conn_.local_port);
  if (conn_.client_port) req += fmt::format("\trport={}", conn_.client_port);
  if (conn_.tls_active) req += "\tsecured";
  if (conn_.tls_client_cert_verified) req += "\tvalid-client-cert";
  if (initial) req += "\tresp=" + resp;
  req += "\n";
  return backend_->exchange(req, id_);
}

ServerReply DovecotSession::step(std::string_view response) {
  if (!base64_decode(response)) return malformed_reply("Invalid base64 data in continued response");
  return backend_->exchange(fmt::format("CONT\t{}\t{}\n", id_, response), id_);
}

}  // namespace

Result<std::unique_ptr<ServerBackend>> make_dovecot_server(const ServerSettings& settings) {
  // A Dovecot that goes away must not kill us on the next write.
  struct sigaction old {};
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL)
    std::signal(SIGPIPE, SIG_IGN);
  return std::make_unique<DovecotBackend>(settings);
}

}  // namespace postern::sasl::detail
