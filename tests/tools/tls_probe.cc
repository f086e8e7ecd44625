// tls-probe: a minimal SMTP-shaped peer around postern_tls, so system
// tests can check our TLS contexts against other implementations
// (openssl s_client/s_server, Python's ssl and smtplib).
//
//   tls-probe [-c dir] [-o name=value]... server PORT
//     Listens on 127.0.0.1:PORT (0: any; prints "port N" when ready) and
//     serves connections one after another: "220 probe ESMTP", EHLO
//     (offers STARTTLS), STARTTLS, NOOP, QUIT; other lines are echoed as
//     "250 <line>". With smtpd_tls_wrappermode = yes TLS starts at once.
//     The handshake may take smtpd_starttls_timeout.
//     Log lines (smtpd_tls_loglevel) go to stderr.
//   tls-probe [-c dir] [-o name=value]... client HOST PORT NAME [NEXTHOP]
//     Connects, does STARTTLS (or wrapper mode), prints "trust: ...",
//     "protocol: ...", "cipher: ..." and exits 0; exits 1 when TLS fails.
//     With smtp_tls_wrappermode = yes it handshakes at once and says nothing
//     more (so any TLS server will do as the peer).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <csignal>
#include <cstring>
#include <cstdio>
#include <string>

#include "global/config.h"
#include "tls/tls.h"
#include "util/log.h"
#include "util/strings.h"

using namespace postern;
using namespace std::chrono_literals;

namespace {

int usage() {
  std::fprintf(stderr, "usage: tls-probe [-c dir] [-o name=value]... server PORT | "
                       "client HOST PORT NAME [NEXTHOP]\n");
  return 64;
}

void serve(Stream& s, tls::ServerContext& ctx, const std::string& addr,
           std::chrono::seconds handshake_time) {
  tls::Peer peer{"localhost", addr, 0, "", ""};
  bool tls_on = false;
  if (ctx.wrappermode()) {
    if (!ctx.start(s, peer, Clock::now() + handshake_time)) return;
    tls_on = true;
  }
  if (!s.write_flush("220 probe ESMTP\r\n")) return;
  for (;;) {
    bool complete = false;
    auto line = s.read_line(1000, &complete);
    if (!line) return;
    std::string cmd(trim(*line));
    std::string verb = uppercase(cmd.substr(0, cmd.find(' ')));
    if (verb == "EHLO") {
      (void)s.write_flush(tls_on ? "250-probe\r\n250 8BITMIME\r\n"
                                 : "250-probe\r\n250 STARTTLS\r\n");
    } else if (verb == "STARTTLS" && !tls_on) {
      if (!s.write_flush("220 2.0.0 Ready to start TLS\r\n")) return;
      auto info = ctx.start(s, peer, Clock::now() + handshake_time);
      if (!info) return;
      tls_on = true;
    } else if (verb == "QUIT") {
      (void)s.write_flush("221 2.0.0 Bye\r\n");
      return;
    } else if (verb == "NOOP") {
      (void)s.write_flush(tls_on ? "250 2.0.0 Ok tls\r\n" : "250 2.0.0 Ok plain\r\n");
    } else {
      if (!s.write_flush("250 " + printable(cmd) + "\r\n")) return;
    }
  }
}

int run_server(const Config& cfg, int port) {
  std::vector<std::string> problems;
  auto ctx = tls::ServerContext::create(cfg, "smtpd", &problems);
  if (!ctx) {
    // What smtpd logs (as Postfix) before it carries on without TLS.
    log::warn("{}: disabling TLS support", ctx.error().text);
    for (const auto& p : problems) log::warn("TLS library problem: {}", p);
    return 1;
  }
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
      ::listen(listener.get(), 16) != 0) {
    log::error("bind 127.0.0.1:{}: {}", port, std::strerror(errno));
    return 1;
  }
  socklen_t len = sizeof sin;
  getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sin), &len);
  std::printf("port %d\n", ntohs(sin.sin_port));
  std::fflush(stdout);
  for (;;) {
    sockaddr_in peer{};
    socklen_t plen = sizeof peer;
    UniqueFd fd(::accept(listener.get(), reinterpret_cast<sockaddr*>(&peer), &plen));
    if (!fd) continue;
    char addr[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof addr);
    Stream s = Stream::from_fd(std::move(fd));
    s.set_timeout(10s);
    serve(s, **ctx, addr, std::chrono::seconds(cfg.get_time("smtpd_starttls_timeout")));
  }
}

Result<std::string> reply(Stream& s) {
  for (;;) {
    auto line = s.read_line(1000);
    if (!line) return line;
    if (line->size() < 4 || (*line)[3] != '-') return line;
  }
}

int run_client(const Config& cfg, const std::string& host, int port, const std::string& name,
               const std::string& nexthop) {
  auto ctx = tls::ClientContext::create(cfg);
  if (!ctx) {
    log::error("{}", ctx.error().text);
    return 2;
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &sin.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    log::error("connect {}:{}: {}", host, port, std::strerror(errno));
    return 2;
  }
  Stream s = Stream::from_fd(std::move(fd));
  s.set_timeout(10s);
  tls::Peer peer{name, host, port, nexthop.empty() ? name : nexthop, ""};
  if (!(*ctx)->wrappermode()) {
    if (!reply(s) || !s.write_flush("EHLO probe\r\n") || !reply(s) ||
        !s.write_flush("STARTTLS\r\n"))
      return 2;
    auto r = reply(s);
    if (!r || !r->starts_with("220")) {
      std::printf("starttls refused\n");
      return 1;
    }
  }
  auto info = (*ctx)->start(s, peer, Clock::now() + 10s);
  if (!info) {
    std::printf("tls failed: %s\n", info.error().text.c_str());
    return 1;
  }
  std::printf("trust: %s\nprotocol: %s\ncipher: %s\n", info->trust().c_str(),
              info->protocol.c_str(), info->cipher.c_str());
  std::printf("summary: %s\n", tls::summary_line(*info, false, peer).c_str());
  std::fflush(stdout);
  if (!(*ctx)->wrappermode()) {
    (void)s.write_flush("QUIT\r\n");
    (void)reply(s);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  log::init("tls-probe", "tls-probe");
  log::disable_syslog();
  Config cfg;
  std::vector<std::pair<std::string, std::string>> overrides;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    if (a == "-c" && i + 1 < argc) {
      auto loaded = Config::load(argv[++i], true);
      if (!loaded) {
        log::error("{}", loaded.error().text);
        return 2;
      }
      cfg = std::move(*loaded);
    } else if (a == "-o" && i + 1 < argc) {
      std::string kv = argv[++i];
      size_t eq = kv.find('=');
      if (eq == std::string::npos) return usage();
      overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else {
      return usage();
    }
  }
  for (auto& [k, v] : overrides) cfg.set_override(k, v);
  if (i >= argc) return usage();
  std::string cmd = argv[i++];
  if (cmd == "server" && argc - i == 1) return run_server(cfg, std::atoi(argv[i]));
  if (cmd == "client" && (argc - i == 3 || argc - i == 4))
    return run_client(cfg, argv[i], std::atoi(argv[i + 1]), argv[i + 2],
                      argc - i == 4 ? argv[i + 3] : "");
  return usage();
}
