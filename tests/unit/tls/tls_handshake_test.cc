// Handshakes between our server and client contexts over a socketpair,
// with a PKI generated at test time by make_certs.sh.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "global/config.h"
#include "tls/tls.h"
#include "util/log.h"

namespace postern::tls {
namespace {

using namespace std::chrono_literals;

std::string g_dir;

std::string f(const std::string& name) { return g_dir + "/" + name; }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/postern-tls-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    g_dir = tmpl;
    std::string cmd = std::string("sh ") + POSTERN_SOURCE_DIR + "/tests/unit/tls/make_certs.sh " + g_dir;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    log::init("smtpd", "test");
    log::disable_syslog();
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(g_dir); }

  static Config server_config() {
    Config c;
    c.set_override("compatibility_level", "3.7");  // sha256 fingerprints
    c.set_override("smtpd_tls_security_level", "may");
    c.set_override("smtpd_tls_cert_file", f("server-rsa.pem"));
    c.set_override("smtpd_tls_key_file", f("server-rsa.key"));
    return c;
  }
  static Config client_config(std::string level = "may") {
    Config c;
    c.set_override("compatibility_level", "3.7");
    c.set_override("smtp_tls_security_level", level);
    return c;
  }
  static std::unique_ptr<ServerContext> server(const Config& c) {
    auto s = ServerContext::create(c);
    EXPECT_TRUE(s) << s.error().text;
    return s ? std::move(*s) : nullptr;
  }
  static std::unique_ptr<ClientContext> client(const Config& c) {
    auto s = ClientContext::create(c);
    EXPECT_TRUE(s) << s.error().text;
    return s ? std::move(*s) : nullptr;
  }

  struct Outcome {
    Result<Info> server = fail(Errc::kInvalid, "not run");
    Result<Info> client = fail(Errc::kInvalid, "not run");
    std::string server_got;  // what the server read after the handshake
    std::string client_got;
  };

  static Peer mail_peer(std::string name = "mail.example.com", std::string nexthop = "example.com") {
    Peer p;
    p.name = std::move(name);
    p.addr = "127.0.0.1";
    p.port = 25;
    p.nexthop = std::move(nexthop);
    return p;
  }

  // Server and client handshake on a socketpair, then exchange one line each way.
  static Outcome run(ServerContext& s, ClientContext& c, const Peer& peer,
                     const ClientContext::Policy* policy = nullptr) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    Stream ss = Stream::from_fd(UniqueFd(sv[0]));
    auto cs = std::make_unique<Stream>(Stream::from_fd(UniqueFd(sv[1])));
    ss.set_timeout(5s);
    cs->set_timeout(5s);
    Outcome out;
    std::thread t([&] {
      out.server = s.start(ss, {"client.example", "127.0.0.1", 0, "", ""}, Clock::now() + 5s);
      if (!out.server) return;
      (void)ss.write_flush("220 hello\r\n");
      if (auto line = ss.read_line(100)) out.server_got = *line;
    });
    out.client = policy ? c.start(*cs, peer, Clock::now() + 5s, *policy)
                        : c.start(*cs, peer, Clock::now() + 5s);
    if (out.client) {
      if (auto line = cs->read_line(100)) out.client_got = *line;
      (void)cs->write_flush("QUIT\r\n");
    }
    cs.reset();
    t.join();
    return out;
  }
};

TEST_F(TlsTest, OpportunisticHandshakeCarriesData) {
  auto s = server(server_config());
  auto c = client(client_config());
  ASSERT_TRUE(s && c);
  testing::internal::CaptureStderr();
  auto cfg = server_config();
  cfg.set_override("smtpd_tls_loglevel", "1");
  auto logging = server(cfg);
  auto out = run(*logging, *c, mail_peer());
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(out.server) << out.server.error().text;
  ASSERT_TRUE(out.client) << out.client.error().text;
  EXPECT_EQ(out.client_got, "220 hello\r");
  EXPECT_EQ(out.server_got, "QUIT\r");
  EXPECT_EQ(out.client->protocol, "TLSv1.3");
  EXPECT_EQ(out.server->protocol, "TLSv1.3");
  EXPECT_EQ(out.server->trust(), "Anonymous");
  EXPECT_EQ(out.client->trust(), "Untrusted");  // no CAfile on the client
  EXPECT_EQ(out.client->peer_cn, "mail.example.com");
  EXPECT_EQ(out.client->peer_cert_fingerprint, slurp(f("server-rsa.fpr")));
  EXPECT_NE(log.find("Anonymous TLS connection established from client.example[127.0.0.1]: "
                     "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("server-signature RSA-PSS (2048 bits)"), std::string::npos) << log;
}

TEST_F(TlsTest, ClientLogLineNamesTrust) {
  auto s = server(server_config());
  auto cc = client_config("verify");
  cc.set_override("smtp_tls_CAfile", f("ca.pem"));
  cc.set_override("smtp_tls_loglevel", "1");
  auto c = client(cc);
  testing::internal::CaptureStderr();
  auto out = run(*s, *c, mail_peer());
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(out.client) << out.client.error().text;
  EXPECT_EQ(out.client->trust(), "Verified");
  EXPECT_NE(log.find("Verified TLS connection established to mail.example.com[127.0.0.1]:25: "
                     "TLSv1.3 with cipher"),
            std::string::npos)
      << log;
}

TEST_F(TlsTest, PipelinedPlaintextIsDiscarded) {
  auto s = server(server_config());
  auto c = client(client_config());
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  Stream ss = Stream::from_fd(UniqueFd(sv[0]));
  Stream cs = Stream::from_fd(UniqueFd(sv[1]));
  ss.set_timeout(5s);
  cs.set_timeout(5s);
  ASSERT_TRUE(cs.write_flush("STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n"));
  auto first = ss.read_line(100);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "STARTTLS\r");
  Result<Info> server_info = fail(Errc::kInvalid, "not run");
  std::string after;
  std::thread t([&] {
    server_info = s->start(ss, {"client", "127.0.0.1", 0, "", ""}, Clock::now() + 5s);
    if (server_info)
      if (auto line = ss.read_line(100)) after = *line;
  });
  auto ci = c->start(cs, mail_peer(), Clock::now() + 5s);
  ASSERT_TRUE(ci) << ci.error().text;
  ASSERT_TRUE(cs.write_flush("EHLO client\r\n"));
  t.join();
  ASSERT_TRUE(server_info) << server_info.error().text;
  EXPECT_EQ(after, "EHLO client\r");
}

TEST_F(TlsTest, ChainFilesServeRsaAndEcdsa) {
  Config sc;
  sc.set_override("smtpd_tls_security_level", "may");
  sc.set_override("smtpd_tls_chain_files", f("server-chain.pem"));
  auto s = server(sc);
  ASSERT_TRUE(s);
  for (auto [exclude, expect] : {std::pair{"aRSA", "-ECDSA-"}, std::pair{"aECDSA", "-RSA-"}}) {
    auto cc = client_config();
    cc.set_override("smtp_tls_protocols", "<=TLSv1.2");
    cc.set_override("smtp_tls_exclude_ciphers", exclude);
    auto c = client(cc);
    auto out = run(*s, *c, mail_peer());
    ASSERT_TRUE(out.client) << out.client.error().text;
    EXPECT_EQ(out.client->protocol, "TLSv1.2");
    EXPECT_NE(out.client->cipher.find(expect), std::string::npos) << exclude;
  }
}

TEST_F(TlsTest, ProtocolPolicyIsEnforced) {
  auto sc = server_config();
  sc.set_override("smtpd_tls_protocols", "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.3");
  auto s12 = server(sc);
  auto c = client(client_config());
  auto out = run(*s12, *c, mail_peer());
  ASSERT_TRUE(out.client) << out.client.error().text;
  EXPECT_EQ(out.client->protocol, "TLSv1.2");

  // A client limited to TLS 1.0/1.1 is refused by a ">=TLSv1.2" server.
  auto sc2 = server_config();
  sc2.set_override("smtpd_tls_protocols", ">=TLSv1.2");
  auto s2 = server(sc2);
  auto cc = client_config();
  cc.set_override("smtp_tls_protocols", "<=TLSv1.1");
  auto old = client(cc);
  auto refused = run(*s2, *old, mail_peer());
  EXPECT_FALSE(refused.client);
  EXPECT_FALSE(refused.server);
}

TEST_F(TlsTest, MandatoryParametersApplyAtEncrypt) {
  auto sc = server_config();
  sc.set_override("smtpd_tls_security_level", "encrypt");
  sc.set_override("smtpd_tls_mandatory_protocols", "TLSv1.2");
  sc.set_override("smtpd_tls_protocols", ">=TLSv1.3");  // ignored at encrypt
  auto s = server(sc);
  auto c = client(client_config());
  auto out = run(*s, *c, mail_peer());
  ASSERT_TRUE(out.client) << out.client.error().text;
  EXPECT_EQ(out.client->protocol, "TLSv1.2");
}

TEST_F(TlsTest, VerifyLevel) {
  auto s = server(server_config());
  auto cc = client_config("verify");
  cc.set_override("smtp_tls_CAfile", f("ca.pem"));
  auto c = client(cc);
  auto good = run(*s, *c, mail_peer("mail.example.com"));
  ASSERT_TRUE(good.client) << good.client.error().text;
  EXPECT_EQ(good.client->trust(), "Verified");
  EXPECT_EQ(good.client_got, "220 hello\r");
  auto wildcard = run(*s, *c, mail_peer("mx1.wild.example.com"));
  EXPECT_TRUE(wildcard.client);
  testing::internal::CaptureStderr();
  auto wrong_name = run(*s, *c, mail_peer("mx.other.org"));
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_FALSE(wrong_name.client);
  EXPECT_EQ(wrong_name.client.error().text, "Server certificate not verified");
  EXPECT_EQ(wrong_name.client.error().code, Errc::kTemporary);
  EXPECT_NE(log.find("server certificate verification failed for mx.other.org[127.0.0.1]:25: "
                     "num=62:hostname mismatch"),
            std::string::npos)
      << log;

  auto untrusting = client(client_config("verify"));  // no CAfile
  testing::internal::CaptureStderr();
  auto untrusted = run(*s, *untrusting, mail_peer());
  log = testing::internal::GetCapturedStderr();
  ASSERT_FALSE(untrusted.client);
  EXPECT_EQ(untrusted.client.error().text, "Server certificate not verified");
  EXPECT_NE(log.find("certificate verification failed for mail.example.com[127.0.0.1]:25: "
                     "untrusted issuer /CN=Postern Test CA"),
            std::string::npos)
      << log;

  auto rogue_cfg = server_config();
  rogue_cfg.set_override("smtpd_tls_cert_file", f("rogue.pem"));
  rogue_cfg.set_override("smtpd_tls_key_file", f("rogue.key"));
  auto rogue = server(rogue_cfg);
  EXPECT_FALSE(run(*rogue, *c, mail_peer()).client);
}

TEST_F(TlsTest, SecureLevelMatchesNexthop) {
  auto s = server(server_config());
  auto cc = client_config("secure");
  cc.set_override("smtp_tls_CAfile", f("ca.pem"));
  auto c = client(cc);
  // MX host name is not checked at "secure": the next-hop domain is.
  auto ok = run(*s, *c, mail_peer("whatever.invalid", "example.com"));
  ASSERT_TRUE(ok.client) << ok.client.error().text;
  EXPECT_EQ(ok.client->trust(), "Verified");
  auto bad = run(*s, *c, mail_peer("mail.example.com", "example.net"));
  EXPECT_FALSE(bad.client);
  // A per-destination policy can name the match.
  ClientContext::Policy p{Level::kSecure, {"mail.example.com"}};
  EXPECT_TRUE(run(*s, *c, mail_peer("x", "example.net"), &p).client);
}

TEST_F(TlsTest, FingerprintLevel) {
  auto s = server(server_config());
  auto cc = client_config("fingerprint");
  cc.set_override("smtp_tls_fingerprint_cert_match", "00:11, " + slurp(f("server-rsa.fpr")));
  auto c = client(cc);
  auto ok = run(*s, *c, mail_peer("anything", "anything"));
  ASSERT_TRUE(ok.client) << ok.client.error().text;
  EXPECT_EQ(ok.client->trust(), "Verified");
  auto wrong = client_config("fingerprint");
  wrong.set_override("smtp_tls_fingerprint_cert_match", "00:11:22");
  auto cw = client(wrong);
  testing::internal::CaptureStderr();
  auto bad = run(*s, *cw, mail_peer());
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_FALSE(bad.client);
  EXPECT_EQ(bad.client.error().text, "Server certificate not verified");
  EXPECT_NE(log.find("server certificate verification failed for mail.example.com[127.0.0.1]:25: "
                     "num=1:unspecified certificate verification error"),
            std::string::npos)
      << log;
  // A digest of the right size that does not match reads as Postfix's DANE check.
  auto sized = client_config("fingerprint");
  std::string wrong_fpr;
  for (int i = 0; i < 32; ++i) wrong_fpr += i ? ":AB" : "AB";
  sized.set_override("smtp_tls_fingerprint_cert_match", wrong_fpr);
  auto cs = client(sized);
  testing::internal::CaptureStderr();
  EXPECT_FALSE(run(*s, *cs, mail_peer()).client);
  log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("num=65:no matching DANE TLSA records"), std::string::npos) << log;
}

TEST_F(TlsTest, ClientCertificates) {
  auto sc = server_config();
  sc.set_override("smtpd_tls_ask_ccert", "yes");
  sc.set_override("smtpd_tls_CAfile", f("ca.pem"));
  sc.set_override("smtpd_tls_loglevel", "1");
  auto s = server(sc);
  auto cc = client_config();
  cc.set_override("smtp_tls_cert_file", f("client.pem"));
  cc.set_override("smtp_tls_key_file", f("client.key"));
  auto c = client(cc);
  testing::internal::CaptureStderr();
  auto out = run(*s, *c, mail_peer());
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(out.server) << out.server.error().text;
  EXPECT_TRUE(out.server->peer_has_cert);
  EXPECT_TRUE(out.server->peer_trusted);
  EXPECT_EQ(out.server->peer_cn, "client.example.com");
  EXPECT_EQ(out.server->peer_cert_fingerprint.size(), 95u);  // SHA-256, colon separated
  EXPECT_NE(log.find("Trusted TLS connection established from client.example[127.0.0.1]: "
                     "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange "
                     "X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256 "
                     "client-signature RSA-PSS (2048 bits) client-digest SHA256"),
            std::string::npos)
      << log;
  // As Debian's Postfix 3.7 writes them for the same handshake.
  EXPECT_EQ(received_header_lines(*out.server, true),
            (std::vector<std::string>{
                "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                " key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
                " client-signature RSA-PSS (2048 bits) client-digest SHA256)",
                "(Client CN \"client.example.com\", Issuer \"Postern Test CA\" (verified OK))"}));

  // Asked but not given: still fine, anonymous.
  auto plain = client(client_config());
  auto anon = run(*s, *plain, mail_peer());
  ASSERT_TRUE(anon.server);
  EXPECT_FALSE(anon.server->peer_has_cert);
  EXPECT_EQ(received_header_lines(*anon.server, true),
            (std::vector<std::string>{
                "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                " key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)",
                "(Client did not present a certificate)"}));
  EXPECT_EQ(received_header_lines(*anon.server, false).back(), "(No client certificate requested)");

  // Required at "encrypt": a client without a certificate is refused.
  auto rc = server_config();
  rc.set_override("smtpd_tls_security_level", "encrypt");
  rc.set_override("smtpd_tls_req_ccert", "yes");
  rc.set_override("smtpd_tls_CAfile", f("ca.pem"));
  auto strict = server(rc);
  auto refused = run(*strict, *plain, mail_peer());
  EXPECT_FALSE(refused.server);
  EXPECT_TRUE(refused.client_got.empty());
  auto accepted = run(*strict, *c, mail_peer());
  EXPECT_TRUE(accepted.server) << accepted.server.error().text;
}

TEST_F(TlsTest, SessionReuse) {
  auto s = server(server_config());
  auto c = client(client_config());
  Peer p = mail_peer();
  p.session_key = "smtp:127.0.0.1:25:mail.example.com";
  auto first = run(*s, *c, p);
  ASSERT_TRUE(first.client);
  EXPECT_FALSE(first.client->session_reused);
  EXPECT_GE(c->cached_sessions(), 1u);
  auto second = run(*s, *c, p);
  ASSERT_TRUE(second.client);
  EXPECT_TRUE(second.client->session_reused);
  EXPECT_TRUE(second.server->session_reused);
}

TEST_F(TlsTest, SilentPeerHitsDeadline) {
  auto s = server(server_config());
  auto c = client(client_config());
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  Stream a = Stream::from_fd(UniqueFd(sv[0]));
  Stream b = Stream::from_fd(UniqueFd(sv[1]));
  auto r = s->start(a, {"client", "127.0.0.1", 0, "", ""}, Clock::now() + 300ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTimeout);
  auto r2 = c->start(b, mail_peer(), Clock::now() + 300ms);  // the peer never answers
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, Errc::kTimeout);
}

TEST_F(TlsTest, CertificateErrorsNameTheFile) {
  // Debian's Postfix logs "warning: cannot get RSA private key from file
  // "/x": disabling TLS support" for the first and the third.
  auto missing = server_config();
  missing.set_override("smtpd_tls_key_file", f("nonexistent.key"));
  std::vector<std::string> problems;
  auto r = ServerContext::create(missing, "smtpd", &problems);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().text, "cannot get RSA private key from file \"" + f("nonexistent.key") + "\"");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("No such file or directory"), std::string::npos) << problems[0];

  auto no_cert = server_config();
  no_cert.set_override("smtpd_tls_cert_file", f("absent.pem"));
  no_cert.set_override("smtpd_tls_key_file", f("server-rsa.key"));
  auto r2 = ServerContext::create(no_cert);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().text, "cannot get RSA certificate from file \"" + f("absent.pem") + "\"");

  auto mismatch = server_config();
  mismatch.set_override("smtpd_tls_key_file", f("client.key"));
  problems.clear();
  auto r3 = ServerContext::create(mismatch, "smtpd", &problems);
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().text, "cannot get RSA private key from file \"" + f("client.key") + "\"");
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems[0].find("key values mismatch"), std::string::npos) << problems[0];

  auto ec = server_config();
  ec.set_override("smtpd_tls_eccert_file", f("server-ec.pem"));
  ec.set_override("smtpd_tls_eckey_file", f("server-rsa.key"));
  auto r5 = ServerContext::create(ec);
  ASSERT_FALSE(r5);
  EXPECT_EQ(r5.error().text, "cannot get ECDSA private key from file \"" + f("server-rsa.key") + "\"");

  Config nothing;
  nothing.set_override("smtpd_tls_security_level", "may");
  auto r4 = ServerContext::create(nothing);
  ASSERT_FALSE(r4);
  EXPECT_NE(r4.error().text.find("smtpd_tls_cert_file"), std::string::npos);

  auto bad_proto = server_config();
  bad_proto.set_override("smtpd_tls_protocols", "!SSLv3, TLSv2");
  EXPECT_FALSE(ServerContext::create(bad_proto));
}

TEST_F(TlsTest, WrapperModeAndLevelsFromConfig) {
  auto sc = server_config();
  sc.set_override("smtpd_tls_wrappermode", "yes");
  auto s = server(sc);
  EXPECT_TRUE(s->wrappermode());
  EXPECT_EQ(s->level(), Level::kMay);
  auto cc = client_config("dane");
  cc.set_override("smtp_tls_wrappermode", "yes");
  auto c = client(cc);
  EXPECT_TRUE(c->wrappermode());
  // dane without DNSSEC behaves as "may".
  auto out = run(*s, *c, mail_peer());
  EXPECT_TRUE(out.client);
}

}  // namespace
}  // namespace postern::tls

namespace postern::tls {
namespace {

TEST_F(TlsTest, EecdhGradeAndServerPreference) {
  auto sc = server_config();
  sc.set_override("smtpd_tls_eecdh_grade", "strong");
  sc.set_override("tls_preempt_cipherlist", "yes");
  auto s = server(sc);
  auto c = client(client_config());
  auto out = run(*s, *c, mail_peer());
  ASSERT_TRUE(out.client) << out.client.error().text;
  EXPECT_EQ(out.client->key_exchange, "ECDHE (prime256v1)");
  sc.set_override("smtpd_tls_eecdh_grade", "extreme");
  EXPECT_FALSE(ServerContext::create(sc));
}

}  // namespace
}  // namespace postern::tls

namespace postern::tls {
namespace {

TEST_F(TlsTest, PolicyMapValues) {
  auto cc = client_config("may");
  cc.set_override("smtp_tls_CAfile", f("ca.pem"));
  cc.set_override("smtp_tls_mandatory_protocols", "TLSv1.2");
  auto c = client(cc);
  auto p = c->parse_policy("secure match=nexthop:dot-nexthop ciphers=high protocols=>=TLSv1.2");
  ASSERT_TRUE(p) << p.error().text;
  EXPECT_EQ(p->level, Level::kSecure);
  EXPECT_EQ(p->match, (std::vector<std::string>{"nexthop", "dot-nexthop"}));
  EXPECT_EQ(p->ciphers, "high");
  EXPECT_FALSE(c->parse_policy("verify colour=blue"));
  EXPECT_FALSE(c->parse_policy("verify ciphers=strongest"));
  EXPECT_FALSE(c->parse_policy("verify protocols=TLSv9"));
  EXPECT_FALSE(c->parse_policy("sometimes"));

  auto s = server(server_config());
  // A mandatory policy brings smtp_tls_mandatory_protocols with it.
  auto enc = c->parse_policy("encrypt");
  ASSERT_TRUE(enc);
  auto out = run(*s, *c, mail_peer(), &*enc);
  ASSERT_TRUE(out.client) << out.client.error().text;
  EXPECT_EQ(out.client->protocol, "TLSv1.2");
  // The policy's own protocols win.
  auto own = c->parse_policy("encrypt protocols=>=TLSv1.3");
  auto out13 = run(*s, *c, mail_peer(), &*own);
  ASSERT_TRUE(out13.client);
  EXPECT_EQ(out13.client->protocol, "TLSv1.3");
  // secure with the policy's match list.
  auto sec = c->parse_policy("secure match=.example.com");
  EXPECT_TRUE(run(*s, *c, mail_peer("x.invalid", "example.org"), &*sec).client);
  auto sec2 = c->parse_policy("secure match=example.org");
  EXPECT_FALSE(run(*s, *c, mail_peer("mail.example.com", "example.com"), &*sec2).client);
  // Excluding every TLS 1.2 cipher the server has makes the handshake fail.
  auto none = c->parse_policy("encrypt exclude=ECDHE:DHE:RSA");
  EXPECT_FALSE(run(*s, *c, mail_peer(), &*none).client);
}

}  // namespace
}  // namespace postern::tls

namespace postern::tls {
namespace {

std::string cat(std::initializer_list<std::string> files) {
  std::string out;
  for (const auto& file : files) {
    std::ifstream in(f(file));
    out.append(std::istreambuf_iterator<char>(in), {});
  }
  return out;
}

TEST_F(TlsTest, ChainFileOrders) {
  // ECDSA chain then its key, followed by the RSA key then its chain.
  std::ofstream(f("mixed.pem")) << cat({"server-ec.pem", "server-ec.key", "server-rsa.key",
                                        "server-rsa.pem"});
  Config sc;
  sc.set_override("smtpd_tls_security_level", "may");
  sc.set_override("smtpd_tls_chain_files", f("mixed.pem"));
  auto s = server(sc);
  ASSERT_TRUE(s);
  auto c = client(client_config());
  EXPECT_TRUE(run(*s, *c, mail_peer()).client);

  std::ofstream(f("certs-only.pem")) << cat({"server-rsa.pem"});
  sc.set_override("smtpd_tls_chain_files", f("certs-only.pem"));
  auto r = ServerContext::create(sc);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().text.find("cannot get private key from file \"" + f("certs-only.pem")),
            std::string::npos)
      << r.error().text;

  std::ofstream(f("wrong-pair.pem")) << cat({"client.key", "server-rsa.pem"});
  sc.set_override("smtpd_tls_chain_files", f("wrong-pair.pem"));
  auto w = ServerContext::create(sc);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().text, "cannot get private key from file \"" + f("wrong-pair.pem") + "\"");

  // Unreadable (a directory): the error names it.
  sc.set_override("smtpd_tls_chain_files", g_dir);
  auto d = ServerContext::create(sc);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().text.find(g_dir), std::string::npos);
}

}  // namespace
}  // namespace postern::tls

namespace postern::tls {
namespace {

TEST_F(TlsTest, DhParametersCapathAndQuietLoglevel) {
  auto sc = server_config();
  sc.set_override("smtpd_tls_dh1024_param_file", f("dh2048.pem"));
  sc.set_override("smtpd_tls_loglevel", "0");
  auto s = server(sc);
  ASSERT_TRUE(s);
  auto cc = client_config("verify");
  cc.set_override("smtp_tls_CApath", f("capath"));
  // "verify" is a mandatory level: the mandatory parameters apply.
  cc.set_override("smtp_tls_mandatory_protocols", "<=TLSv1.2");
  cc.set_override("smtp_tls_mandatory_ciphers", "high");
  cc.set_override("tls_high_cipherlist", "DHE-RSA-AES256-GCM-SHA384");
  auto c = client(cc);
  testing::internal::CaptureStderr();
  auto out = run(*s, *c, mail_peer());
  std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(out.client) << out.client.error().text;
  EXPECT_EQ(out.client->cipher, "DHE-RSA-AES256-GCM-SHA384");
  EXPECT_EQ(out.client->trust(), "Verified");  // through CApath
  EXPECT_EQ(log.find("TLS connection established"), std::string::npos) << log;

  sc.set_override("smtpd_tls_dh1024_param_file", f("server-rsa.pem"));
  auto bad = ServerContext::create(sc);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().text.find("cannot load DH parameters from file \"" + f("server-rsa.pem")),
            std::string::npos)
      << bad.error().text;
}

}  // namespace
}  // namespace postern::tls

namespace postern::tls {
namespace {

TEST_F(TlsTest, SharedTicketKeyResumesAcrossProcesses) {
  std::string key;
  for (int i = 0; i < 80; ++i) key += static_cast<char>(i * 7);
  auto first = server(server_config());
  auto second = server(server_config());  // another smtpd process
  ASSERT_TRUE(first->set_ticket_key(key));
  ASSERT_TRUE(second->set_ticket_key(key));
  auto c = client(client_config());
  Peer p = mail_peer();
  p.session_key = "[mail.example.com]:25";
  ASSERT_TRUE(run(*first, *c, p).client);
  auto resumed = run(*second, *c, p);
  ASSERT_TRUE(resumed.client);
  EXPECT_TRUE(resumed.client->session_reused);
  EXPECT_TRUE(resumed.server->session_reused);

  auto stranger = server(server_config());  // its own random key
  auto full = run(*stranger, *c, p);
  ASSERT_TRUE(full.client);
  EXPECT_FALSE(full.client->session_reused);

  EXPECT_FALSE(first->set_ticket_key("short"));

  // smtpd_tls_session_cache_timeout = 0: no resumption at all.
  auto off_cfg = server_config();
  off_cfg.set_override("smtpd_tls_session_cache_timeout", "0");
  auto off = server(off_cfg);
  auto c2 = client(client_config());
  ASSERT_TRUE(run(*off, *c2, p).client);
  auto again = run(*off, *c2, p);
  ASSERT_TRUE(again.client);
  EXPECT_FALSE(again.client->session_reused);
}

}  // namespace
}  // namespace postern::tls
