// smtpd: the SMTP server. master passes one accepted connection at a time
// (single_server_main); with -S the client is on stdin/stdout.
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include "dns/dns.h"
#include "global/attr.h"
#include "global/mail_server.h"
#include "global/rewrite_client.h"
#include "maps/map.h"
#include "maps/table_lookup.h"
#include "smtpd/smtpd_milter.h"
#include "smtpd/smtpd_rewrite_clients.h"
#include "smtpd/smtpd_session.h"
#include "util/socket.h"
#include "util/strings.h"

using namespace postern;
using namespace postern::smtpd;

namespace {

// The real services behind the restrictions.
class DaemonLookups : public CheckLookups {
 public:
  explicit DaemonLookups(const Config& cfg)
      : cfg_(cfg), rewrite_(RewriteClient::from_config(cfg)), table_(maps::make_table_lookup()) {}

  Result<ResolveReply> resolve(std::string_view sender, std::string_view address) override {
    return rewrite_.resolve(sender, address);
  }
  Result<std::string> table(std::string_view spec, std::string_view key, bool partial) override {
    return table_(spec, key, partial);
  }
  Status preopen(const std::vector<std::string>& specs) { return maps::preopen_tables(table_, specs); }
  Result<std::string> policy(std::string_view endpoint, const AttrList& request) override {
    auto deadline = Clock::now() + std::chrono::seconds(cfg_.get_time("smtpd_policy_service_timeout"));
    Result<UniqueFd> fd = fail(Errc::kInvalid, "bad policy endpoint");
    if (endpoint.starts_with("unix:")) {
      fd = connect_unix(std::string(endpoint.substr(5)), deadline);
    } else if (endpoint.starts_with("inet:")) {
      std::string hp(endpoint.substr(5));
      size_t colon = hp.rfind(':');
      if (colon == std::string::npos) return fail(Errc::kInvalid, "bad policy endpoint");
      auto port = parse_long(hp.substr(colon + 1));
      if (!port) return fail(Errc::kInvalid, "bad policy endpoint port");
      fd = connect_inet(hp.substr(0, colon), static_cast<int>(*port), deadline);
    } else {
      fd = connect_unix(std::string(endpoint), deadline);
    }
    if (!fd) return std::unexpected(fd.error());
    Stream s = Stream::from_fd(std::move(*fd));
    s.set_timeout(std::chrono::seconds(cfg_.get_time("smtpd_policy_service_timeout")));
    for (const auto& [k, v] : request.items()) s.write(k + "=" + v + "\n");
    s.write("\n");
    if (auto st = s.flush(); !st) return std::unexpected(st.error());
    std::string action;
    for (int i = 0; i < 100; i++) {
      auto line = s.read_line(4096);
      if (!line) return std::unexpected(line.error());
      std::string_view l = trim(*line, "\r");
      if (l.empty()) break;
      if (l.starts_with("action=")) action = std::string(l.substr(7));
    }
    if (action.empty()) return fail(Errc::kTemporary, "policy server sent no action");
    return action;
  }
  Result<std::vector<std::string>> dns_a(std::string_view name) override {
    auto r = resolver();
    if (!r) return std::unexpected(r.error());
    auto a = (*r)->addresses(name, true, false);
    if (!a) return std::unexpected(a.error());
    std::vector<std::string> out;
    for (const auto& ip : *a) out.push_back(ip.to_string());
    return out;
  }
  Result<bool> domain_exists(std::string_view domain) override {
    auto r = resolver();
    if (!r) return std::unexpected(r.error());
    auto mx = (*r)->mx(domain);
    if (mx) return true;
    if (mx.error().code != Errc::kNotFound) return std::unexpected(mx.error());
    auto a = (*r)->addresses(domain, true, true);
    if (a) return !a->empty();
    if (a.error().code == Errc::kNotFound) return false;
    return std::unexpected(a.error());
  }
  Result<std::vector<std::string>> dns_txt(std::string_view name) override {
    auto r = resolver();
    if (!r) return std::unexpected(r.error());
    return (*r)->txt(name);
  }

 private:
  Result<dns::Resolver*> resolver() {
    if (!resolver_) {
      auto r = dns::Resolver::create();
      if (!r) return std::unexpected(r.error());
      resolver_ = std::move(*r);
    }
    return resolver_.get();
  }
  const Config& cfg_;
  RewriteClient rewrite_;
  TableLookup table_;
  std::unique_ptr<dns::Resolver> resolver_;
};

// The client's names: the PTR name (reverse_name), and the name when the
// PTR name's addresses include the client's (client_name); else "unknown".
void lookup_client(CheckState& st, const IpAddress& addr) {
  sockaddr_storage ss{};
  socklen_t len = addr.to_sockaddr(&ss, 0);
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0,
                  NI_NAMEREQD) != 0)
    return;
  st.reverse_name = host;
  addrinfo hints{};
  hints.ai_family = addr.family();
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host, nullptr, &hints, &res) != 0) return;
  for (addrinfo* p = res; p; p = p->ai_next) {
    if (IpAddress::from_sockaddr(p->ai_addr).to_string() == addr.to_string()) {
      st.client_name = host;
      break;
    }
  }
  freeaddrinfo(res);
}

// Stand-alone mode on a pipe: read the client from stdin, answer on stdout.
class PipeTransport : public Transport {
 public:
  PipeTransport(UniqueFd in, UniqueFd out)
      : in_(std::move(in)), out_(std::make_unique<FdTransport>(std::move(out))) {}
  Result<size_t> read_some(char* buf, size_t len, Deadline deadline) override {
    return in_.read_some(buf, len, deadline);
  }
  Result<size_t> write_some(const char* buf, size_t len, Deadline deadline) override {
    return out_->write_some(buf, len, deadline);
  }
  int fd() const override { return in_.fd(); }

 private:
  FdTransport in_;
  std::unique_ptr<FdTransport> out_;
};

bool is_socket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

std::unique_ptr<tls::ServerContext> tls_context;

// Shared session tickets from tlsmgr and per-name certificates (SNI).
void setup_tls_extras(const Config& cfg, tls::ServerContext& ctx);

// The lookup tables this process uses, opened a second time only to notice
// when one is replaced: smtpd then exits after the session and master
// starts a fresh one (Postfix: "table ... has changed -- restarting").
std::vector<maps::MapPtr> watched_tables;

bool tables_changed() {
  for (const auto& m : watched_tables)
    if (m && m->changed()) {
      log::info("table {}:{} has changed -- restarting", m->type(), m->name());
      return true;
    }
  return false;
}

std::unique_ptr<sasl::ServerBackend> sasl_backend;
TableLookup sni_table;

std::string hex_decode(std::string_view hex) {
  auto nibble = [](char c) {
    return isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c | 0x20) - 'a' + 10;
  };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  return out;
}

// One connection to tlsmgr, opened before privileges are dropped and kept;
// a request that fails closes it for good (the cache is an optimisation).
std::unique_ptr<Stream> tlsmgr_stream;

Result<AttrList> tlsmgr_request(const AttrList& req) {
  if (!tlsmgr_stream) return fail(Errc::kTemporary, "no tlsmgr connection");
  attr_write(*tlsmgr_stream, AttrEncoding::kNul, req);
  Result<AttrList> reply = fail(Errc::kIo, "tlsmgr write");
  if (tlsmgr_stream->flush()) reply = attr_read(*tlsmgr_stream, AttrEncoding::kNul);
  if (!reply) {
    log::warn("tlsmgr: {}: TLS session cache disabled", reply.error().text);
    tlsmgr_stream.reset();
  }
  return reply;
}

// smtpd_tls_session_cache_database: sessions resumed by ID in any smtpd,
// through tlsmgr (which keeps them in memory; the database file named by
// the parameter is not written).
void setup_session_cache(const Config& cfg, tls::ServerContext& ctx) {
  if (trim(cfg.get("smtpd_tls_session_cache_database")).empty()) return;
  auto timeout = cfg.time_value("smtpd_tls_session_cache_timeout");
  if (!timeout || *timeout <= 0) return;
  std::string path = cfg.get("queue_directory") + "/private/" + cfg.get("tlsmgr_service_name");
  auto fd = connect_unix(path, Clock::now() + std::chrono::seconds(10));
  if (!fd) return;  // fetch_ticket_key already said that tlsmgr is missing
  tlsmgr_stream = std::make_unique<Stream>(Stream::from_fd(std::move(*fd)));
  tlsmgr_stream->set_timeout(std::chrono::seconds(10));
  tls::ServerContext::SessionStore store;
  store.store = [](std::string_view id, std::string_view der) {
    (void)tlsmgr_request(AttrList{{"request", "update"}, {"cache_type", "smtpd"},
                                  {"cache_id", hex_lower(id)}, {"session", hex_lower(der)}});
  };
  store.fetch = [](std::string_view id) -> Result<std::string> {
    auto r = tlsmgr_request(
        AttrList{{"request", "lookup"}, {"cache_type", "smtpd"}, {"cache_id", hex_lower(id)}});
    if (!r) return std::unexpected(r.error());
    if (r->str("status") != "0") return fail(Errc::kNotFound, "not cached");
    return hex_decode(r->str("session"));
  };
  ctx.set_session_store(std::move(store));
}

// Asks tlsmgr (private/$tlsmgr_service_name) for the shared session ticket
// key; without tlsmgr each process keeps its own key (no resumption across
// processes).
void fetch_ticket_key(const Config& cfg, tls::ServerContext& ctx) {
  auto timeout = cfg.time_value("smtpd_tls_session_cache_timeout");
  if (!timeout || *timeout <= 0) return;
  std::string path = cfg.get("queue_directory") + "/private/" + cfg.get("tlsmgr_service_name");
  auto deadline = Clock::now() + std::chrono::seconds(10);
  auto fd = connect_unix(path, deadline);
  if (!fd) {
    log::info("cannot reach tlsmgr ({}): TLS session tickets are per process", fd.error().text);
    return;
  }
  Stream s = Stream::from_fd(std::move(*fd));
  s.set_timeout(std::chrono::seconds(10));
  attr_write(s, AttrEncoding::kNul, AttrList{{"request", "tktkey"}, {"keyname", ""}});
  if (!s.flush()) return;
  auto reply = attr_read(s, AttrEncoding::kNul);
  if (!reply || reply->str("status") != "0") {
    log::warn("tlsmgr: no session ticket key");
    return;
  }
  std::string key = hex_decode(reply->str("keybuf"));
  if (auto st = ctx.set_ticket_key(key); !st) log::warn("tlsmgr: {}", st.error().text);
}

void setup_tls_extras(const Config& cfg, tls::ServerContext& ctx) {
  fetch_ticket_key(cfg, ctx);
  setup_session_cache(cfg, ctx);
  auto specs = cfg.expand("tls_server_sni_maps");
  if (!specs || trim(*specs).empty()) return;
  std::vector<std::string> tables;
  for (auto w : split(*specs, " \t,"))
    if (!w.empty()) tables.emplace_back(w);
  sni_table = maps::make_table_lookup();
  (void)maps::preopen_tables(sni_table, tables);
  ctx.set_sni_lookup([tables](std::string_view name) -> Result<std::string> {
    for (const auto& t : tables) {
      auto v = sni_table(t, name, name.starts_with("."));
      if (v || v.error().code != Errc::kNotFound) return v;
    }
    return fail(Errc::kNotFound, "not found");
  });
}
Extensions extensions;

// TLS and SASL, set up before privileges are dropped (keys are root-only).
void init_extensions(const Config& cfg) {
  std::string level = lowercase(cfg.get("smtpd_tls_security_level"));
  if (level.empty())
    level = cfg.get_bool("smtpd_enforce_tls") ? "encrypt" : cfg.get_bool("smtpd_use_tls") ? "may" : "none";
  // Wrapper mode (port 465) is TLS whatever the level says, as in Postfix.
  if (level == "may" || level == "encrypt" || cfg.get_bool("smtpd_tls_wrappermode")) {
    extensions.tls_required = level == "encrypt";
    std::vector<std::string> problems;
    auto ctx = tls::ServerContext::create(cfg, "smtpd", &problems);
    if (ctx) {
      tls_context = std::move(*ctx);
      extensions.tls = tls_context.get();
      setup_tls_extras(cfg, *tls_context);
    } else {
      log::warn("{}: disabling TLS support", ctx.error().text);
      for (const auto& p : problems) log::warn("TLS library problem: {}", p);
      extensions.tls_unavailable = extensions.tls_required;
    }
  }
  if (cfg.get_bool("smtpd_sasl_auth_enable")) {
    auto b = sasl::ServerBackend::create(cfg);
    if (b) {
      sasl_backend = std::move(*b);
      extensions.sasl = sasl_backend.get();
    } else {
      log::warn("SASL per-process initialization failed: {}", b.error().text);
    }
  }
}

std::unique_ptr<AnvilClient> anvil;
std::optional<MatchList> xclient_hosts, xforward_hosts, sasl_exceptions;
std::optional<smtpd::LocalRewriteClients> local_rewrite_clients;
std::optional<MatchList> anvil_exceptions;

std::unique_ptr<DaemonLookups> lookups;
std::unique_ptr<Checker> checker;
std::unique_ptr<SessionSettings> settings;

void init(ServiceContext& ctx) {
  lookups = std::make_unique<DaemonLookups>(ctx.cfg());
  auto c = Checker::from_config(ctx.cfg(), *lookups);
  if (!c) log::fatal("{}", c.error().text);
  checker = std::make_unique<Checker>(std::move(*c));
  // Open the tables now, with full privileges (Postfix does the same).
  if (auto st = lookups->preopen(checker->tables()); !st) log::warn("{}", st.error().text);
  for (const auto& spec : checker->tables())
    if (auto m = maps::open_map(spec); m) watched_tables.push_back(std::move(*m));
  settings = std::make_unique<SessionSettings>(SessionSettings::from_config(ctx.cfg()));
  init_extensions(ctx.cfg());
  auto hosts = [&](std::string_view param, std::optional<MatchList>& out) {
    auto l = MatchList::from_config(ctx.cfg(), param, maps::make_table_lookup());
    if (l) out = std::move(*l);
    else log::warn("{}", l.error().text);
  };
  hosts("smtpd_authorized_xclient_hosts", xclient_hosts);
  hosts("smtpd_authorized_xforward_hosts", xforward_hosts);
  local_rewrite_clients = smtpd::LocalRewriteClients::from_config(ctx.cfg(), maps::make_table_lookup());
  if (!trim(ctx.cfg().get("smtpd_sasl_exceptions_networks")).empty())
    hosts("smtpd_sasl_exceptions_networks", sasl_exceptions);
  // Client limits need anvil, so only under master.
  if (!ctx.args().stand_alone) {
    anvil = std::make_unique<AnvilClient>(AnvilClient::from_config(ctx.cfg()));
    auto ex = MatchList::from_config(ctx.cfg(), "smtpd_client_event_limit_exceptions",
                                     maps::make_table_lookup());
    if (ex) anvil_exceptions = std::move(*ex);
    else log::warn("{}", ex.error().text);
  }
}

void serve(UniqueFd fd, ServiceContext& ctx) {
  CheckState st;
  UniqueFd out_fd;
  auto peer = peer_address(fd.get());
  if (peer && (peer->family == AF_INET || peer->family == AF_INET6)) {
    st.client_addr = peer->address.to_string();
    st.client_port = peer->port;
    lookup_client(st, peer->address);
  } else {
    // Stand-alone (-S) or a UNIX-domain client: Postfix's local identity.
    st.client_name = st.reverse_name = "localhost";
    st.client_addr = "127.0.0.1";
  }
  std::shared_ptr<SmtpdMilter> milter;  // smtpd_milters; none stand-alone (sendmail -bs)
  if (ctx.args().stand_alone) milter = nullptr;
  else if (auto local = local_address(fd.get()); local && local->family != AF_UNIX)
    milter = SmtpdMilter::create(ctx.cfg(), local->address.to_string(), local->port);
  else
    milter = SmtpdMilter::create(ctx.cfg(), "", 0);
  std::unique_ptr<Transport> transport;
  if (ctx.args().stand_alone && !is_socket(fd.get()))
    transport = std::make_unique<PipeTransport>(std::move(fd), UniqueFd(::dup(STDOUT_FILENO)));
  else
    transport = std::make_unique<FdTransport>(std::move(fd));
  Stream stream(std::move(transport));
  Extensions ext = extensions;
  auto matcher = [](std::optional<MatchList>& list) {
    return [&list](const std::string& name, const std::string& addr) {
      if (!list || list->empty()) return false;
      auto m = list->match_client(name, addr);
      return m && *m;
    };
  };
  ext.xclient_authorized = matcher(xclient_hosts);
  ext.xforward_authorized = matcher(xforward_hosts);
  ext.sasl_exception = matcher(sasl_exceptions);
  ext.local_rewrite_client = [](const std::string& addr, bool authenticated) {
    return local_rewrite_clients && local_rewrite_clients->local(addr, authenticated);
  };
  if (anvil) {
    auto exempt = anvil_exceptions ? anvil_exceptions->match_client(st.client_name, st.client_addr)
                                   : Result<bool>(true);
    if (exempt && !*exempt) {
      ext.anvil = anvil.get();
      ext.service = ctx.args().service_name;
    }
  }
  ext.milter = std::move(milter);
  Session session(stream, *settings, *checker, cleanup_opener(ctx.cfg()), std::move(st), ext);
  session.run();
  if (tables_changed()) ctx.request_exit();
}

}  // namespace

int main(int argc, char** argv) {
  ServiceHooks hooks;
  hooks.pre_init = init;
  return single_server_main(argc, argv, "smtpd", serve, hooks);
}
