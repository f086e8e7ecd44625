// Cyrus SASL (libsasl2): the server back end and the client.
#include <sasl/sasl.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "global/config.h"
#include "sasl/base64.h"
#include "sasl/sasl_client.h"
#include "sasl/sasl_internal.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::sasl {

namespace {

using Callback = int (*)();

// Cyrus stores every callback as int (*)(void); the detour through
// void (*)(void) is the sanctioned way to say so without a warning.
template <class F>
Callback as_callback(F* f) {
  return reinterpret_cast<Callback>(reinterpret_cast<void (*)()>(f));
}

// Cyrus's messages with Postfix's prefixes ("warning: SASL authentication
// failure: Password verification failed").
int log_callback(void*, int level, const char* message) {
  if (!message) return SASL_OK;
  switch (level) {
    case SASL_LOG_ERR:
    case SASL_LOG_WARN: log::warn("SASL authentication problem: {}", message); break;
    case SASL_LOG_FAIL: log::warn("SASL authentication failure: {}", message); break;
    case SASL_LOG_NOTE:
      if (log::verbose()) log::info("SASL authentication info: {}", message);
      break;
    default:
      if (log::verbose()) log::info("SASL authentication debug: {}", message);
  }
  return SASL_OK;
}

// Where <app>.conf is searched: cyrus_sasl_config_path, else Debian's places.
std::string& config_path() {
  static std::string path;
  return path;
}

int conf_path_callback(void*, char** path) {
  *path = const_cast<char*>(config_path().c_str());
  return SASL_OK;
}

unsigned security_flags(const SecurityOptions& o) {
  unsigned f = 0;
  if (o.noanonymous) f |= SASL_SEC_NOANONYMOUS;
  if (o.noplaintext) f |= SASL_SEC_NOPLAINTEXT;
  if (o.noactive) f |= SASL_SEC_NOACTIVE;
  if (o.nodictionary) f |= SASL_SEC_NODICTIONARY;
  if (o.mutual_auth) f |= SASL_SEC_MUTUAL_AUTH;
  if (o.forward_secrecy) f |= SASL_SEC_FORWARD_SECRECY;
  return f;
}

void set_security(sasl_conn_t* conn, const SecurityOptions& o) {
  sasl_security_properties_t props{};
  props.min_ssf = 0;
  props.max_ssf = 0;  // no SASL security layer
  props.maxbufsize = 0;
  props.security_flags = security_flags(o);
  sasl_setprop(conn, SASL_SEC_PROPS, &props);
}

std::string ip_port(const std::string& addr, int port) {
  if (addr.empty()) return {};
  return fmt::format("{};{}", addr, port);
}

std::string conn_error(sasl_conn_t* conn, int status) {
  const char* detail = conn ? sasl_errdetail(conn) : nullptr;
  return detail && *detail ? detail : sasl_errstring(status, nullptr, nullptr);
}

// --- server ---------------------------------------------------------------

class CyrusSession : public Session {
 public:
  CyrusSession(sasl_conn_t* conn, std::string filter) : conn_(conn), filter_(std::move(filter)) {}
  ~CyrusSession() override { sasl_dispose(&conn_); }

  std::vector<std::string> mechanisms() const override {
    const char* list = nullptr;
    unsigned len = 0;
    int count = 0;
    std::vector<std::string> mechs;
    if (sasl_listmech(conn_, nullptr, "", " ", "", &list, &len, &count) != SASL_OK) return mechs;
    for (auto m : split(std::string_view(list, len))) mechs.push_back(uppercase(m));
    return filter_mechanisms(mechs, filter_);
  }

  ServerReply start(std::string_view mech, std::optional<std::string_view> initial) override {
    std::string m = uppercase(mech);
    bool offered = false;
    for (const auto& name : mechanisms())
      if (name == m) offered = true;
    if (!offered) {
      ServerReply r;
      r.reason = sasl_errstring(SASL_NOMECH, nullptr, nullptr);  // "no mechanism available"
      return r;
    }
    std::optional<std::string> data;
    if (initial) {
      if (*initial == "=") {
        data = std::string();
      } else {
        data = base64_decode(*initial);
        if (!data) return detail::malformed_reply(sasl_errstring(SASL_BADPROT, nullptr, nullptr));
      }
    }
    const char* out = nullptr;
    unsigned outlen = 0;
    int status = sasl_server_start(conn_, m.c_str(), data ? data->data() : nullptr,
                                   data ? static_cast<unsigned>(data->size()) : 0, &out, &outlen);
    return reply(status, out, outlen);
  }

  ServerReply step(std::string_view response) override {
    auto data = base64_decode(response);
    if (!data) return detail::malformed_reply(sasl_errstring(SASL_BADPROT, nullptr, nullptr));
    const char* out = nullptr;
    unsigned outlen = 0;
    int status = sasl_server_step(conn_, data->data(), static_cast<unsigned>(data->size()), &out,
                                  &outlen);
    return reply(status, out, outlen);
  }

 private:
  ServerReply reply(int status, const char* out, unsigned outlen) {
    ServerReply r;
    if (status == SASL_CONTINUE) {
      r.kind = ServerReply::Kind::kContinue;
      r.challenge = base64_encode(std::string_view(out ? out : "", out ? outlen : 0));
      return r;
    }
    // The user name is known after success and, for the log line's
    // sasl_username=, usually after a failed password too.
    const void* user = nullptr;
    if (sasl_getprop(conn_, SASL_USERNAME, &user) == SASL_OK && user)
      r.username = static_cast<const char*>(user);
    if (status == SASL_OK) {
      r.kind = ServerReply::Kind::kSuccess;
      return r;
    }
    r.kind = ServerReply::Kind::kFailure;
    // The short text Postfix puts in its reply and log line
    // ("authentication failure", "generic failure"); Cyrus logs the detail.
    r.reason = sasl_errstring(status, nullptr, nullptr);
    // Unreachable back ends (saslauthd down) are worth a retry.
    r.temporary = status == SASL_TRYAGAIN || status == SASL_UNAVAIL || status == SASL_FAIL;
    return r;
  }

  sasl_conn_t* conn_;
  std::string filter_;
};

class CyrusBackend : public ServerBackend {
 public:
  explicit CyrusBackend(detail::ServerSettings s) : settings_(std::move(s)) {}
  std::string_view type() const override { return "cyrus"; }

  Result<std::unique_ptr<Session>> open(const ConnectionInfo& conn) override {
    std::string local = ip_port(conn.local_addr, conn.local_port);
    std::string remote = ip_port(conn.client_addr, conn.client_port);
    sasl_conn_t* sc = nullptr;
    int status = sasl_server_new(settings_.service.c_str(), settings_.hostname.c_str(),
                                 settings_.realm.empty() ? nullptr : settings_.realm.c_str(),
                                 local.empty() ? nullptr : local.c_str(),
                                 remote.empty() ? nullptr : remote.c_str(), nullptr, 0, &sc);
    if (status != SASL_OK)
      return fail(Errc::kTemporary,
                  "SASL per-connection server initialization: " + conn_error(nullptr, status));
    set_security(sc, conn.tls_active ? settings_.tls_options : settings_.options);
    return std::make_unique<CyrusSession>(sc, settings_.filter);
  }

 private:
  detail::ServerSettings settings_;
};

// --- library initialization -------------------------------------------------

std::string default_config_path() { return "/etc/postfix/sasl:/etc/sasl2:/usr/lib/sasl2"; }

}  // namespace

namespace detail {

Result<std::unique_ptr<ServerBackend>> make_cyrus_server(const ServerSettings& settings) {
  static int init_status = -1;
  static std::string app_name;
  if (init_status == -1) {
    config_path() = settings.config_path.empty() ? default_config_path() : settings.config_path;
    app_name = settings.path.empty() ? "smtpd" : settings.path;
    static sasl_callback_t callbacks[] = {
        {SASL_CB_LOG, as_callback(&log_callback), nullptr},
        {SASL_CB_GETCONFPATH, as_callback(&conf_path_callback), nullptr},
        {SASL_CB_LIST_END, nullptr, nullptr},
    };
    init_status = sasl_server_init(callbacks, app_name.c_str());
  }
  if (init_status != SASL_OK)
    return fail(Errc::kInvalid, "SASL per-process initialization failed: " +
                                    std::string(sasl_errstring(init_status, nullptr, nullptr)));
  return std::make_unique<CyrusBackend>(settings);
}

}  // namespace detail

// --- client -------------------------------------------------------------------

struct Client::Callbacks {
  sasl_callback_t list[4];
};

int Client::get_simple(void* context, int id, const char** result, unsigned* len) {
  auto* self = static_cast<Client*>(context);
  if (id != SASL_CB_USER && id != SASL_CB_AUTHNAME) return SASL_BADPARAM;
  *result = self->username_.c_str();
  if (len) *len = static_cast<unsigned>(self->username_.size());
  return SASL_OK;
}

int Client::get_secret(sasl_conn_t*, void* context, int id, sasl_secret_t** secret) {
  auto* self = static_cast<Client*>(context);
  if (id != SASL_CB_PASS) return SASL_BADPARAM;
  if (!self->secret_) {
    self->secret_ = static_cast<sasl_secret_t*>(
        std::malloc(sizeof(sasl_secret_t) + self->password_.size()));
    if (!self->secret_) return SASL_NOMEM;
    self->secret_->len = self->password_.size();
    std::memcpy(self->secret_->data, self->password_.data(), self->password_.size());
    self->secret_->data[self->password_.size()] = 0;  // sasl_secret_t has room for 1 byte
  }
  *secret = self->secret_;
  return SASL_OK;
}

Result<std::unique_ptr<Client>> Client::create(const Config& cfg, std::string_view server_host,
                                               std::string_view username,
                                               std::string_view password, Channel channel,
                                               std::string_view prefix_view) {
  static int init_status = -1;
  if (init_status == -1) {
    static sasl_callback_t callbacks[] = {
        {SASL_CB_LOG, as_callback(&log_callback), nullptr},
        {SASL_CB_LIST_END, nullptr, nullptr},
    };
    init_status = sasl_client_init(callbacks);
  }
  if (init_status != SASL_OK)
    return fail(Errc::kInvalid, "SASL library initialization failed: " +
                                    std::string(sasl_errstring(init_status, nullptr, nullptr)));
  std::string prefix(prefix_view);
  std::string opt_param = prefix + (channel == Channel::kPlain ? "_sasl_security_options"
                                    : channel == Channel::kTls ? "_sasl_tls_security_options"
                                                               : "_sasl_tls_verified_security_options");
  auto opt_text = cfg.expand(opt_param);
  if (!opt_text) return std::unexpected(opt_text.error());
  auto options = parse_security_options(opt_param, *opt_text);
  if (!options) return std::unexpected(options.error());
  auto filter = cfg.expand(prefix + "_sasl_mechanism_filter");
  if (!filter) return std::unexpected(filter.error());

  std::unique_ptr<Client> self(new Client);
  self->username_ = std::string(username);
  self->password_ = std::string(password);
  self->filter_ = *filter;
  self->callbacks_ = std::make_unique<Callbacks>();
  auto& cb = self->callbacks_->list;
  cb[0] = {SASL_CB_USER, as_callback(&get_simple), self.get()};
  cb[1] = {SASL_CB_AUTHNAME, as_callback(&get_simple), self.get()};
  cb[2] = {SASL_CB_PASS, as_callback(&get_secret), self.get()};
  cb[3] = {SASL_CB_LIST_END, nullptr, nullptr};
  std::string host(server_host);
  int status = sasl_client_new("smtp", host.c_str(), nullptr, nullptr, cb, 0, &self->conn_);
  if (status != SASL_OK)
    return fail(Errc::kTemporary, "per-session SASL client initialization: " +
                                      std::string(sasl_errstring(status, nullptr, nullptr)));
  set_security(self->conn_, *options);
  return self;
}

Client::~Client() {
  if (conn_) sasl_dispose(&conn_);
  if (secret_) {
    std::memset(secret_->data, 0, secret_->len);
    std::free(secret_);
  }
}

Result<Client::First> Client::start(const std::vector<std::string>& server_mechanisms) {
  std::vector<std::string> upper;
  for (const auto& m : server_mechanisms) upper.push_back(uppercase(m));
  auto allowed = filter_mechanisms(upper, filter_);
  if (allowed.empty())
    return fail(Errc::kPermanent, "SASL authentication failed: server offered no mechanism "
                                  "allowed by the mechanism filter (offered: " +
                                      join(upper, " ") + ")");
  std::string list = join(allowed, " ");
  const char* out = nullptr;
  unsigned outlen = 0;
  const char* mech = nullptr;
  sasl_interact_t* interact = nullptr;
  int status = sasl_client_start(conn_, list.c_str(), &interact, &out, &outlen, &mech);
  if (status != SASL_OK && status != SASL_CONTINUE)
    return fail(status == SASL_NOMECH ? Errc::kPermanent : Errc::kTemporary,
                "SASL authentication failed; cannot authenticate to server: " +
                    conn_error(conn_, status) + " (offered: " + list + ")");
  First first;
  first.mechanism = mech ? mech : "";
  if (out) first.initial = outlen ? base64_encode(std::string_view(out, outlen)) : "=";
  return first;
}

Result<std::string> Client::step(std::string_view challenge) {
  auto data = base64_decode(challenge);
  if (!data) return fail(Errc::kInvalid, "malformed SASL challenge from server");
  const char* out = nullptr;
  unsigned outlen = 0;
  sasl_interact_t* interact = nullptr;
  int status = sasl_client_step(conn_, data->data(), static_cast<unsigned>(data->size()),
                                &interact, &out, &outlen);
  if (status != SASL_OK && status != SASL_CONTINUE)
    return fail(Errc::kTemporary, "SASL authentication failed: " + conn_error(conn_, status));
  return base64_encode(std::string_view(out ? out : "", out ? outlen : 0));
}

}  // namespace postern::sasl
