// TLS for SMTP over OpenSSL 3: server and client contexts built from
// Postfix parameters, and a Transport that plugs into util/stream.h.
//
// STARTTLS in a server:
//   auto ctx = tls::ServerContext::create(config());   // once per process
//   ... reply "220 2.0.0 Ready to start TLS", flush ...
//   auto info = ctx->start(stream, {"host", "1.2.3.4", 25}, Clock::now() + 300s);
// start() discards input buffered before the handshake (no command
// injection), performs the handshake within the deadline, replaces the
// Stream's transport with the TLS session and logs Postfix's summary line
// ("Anonymous TLS connection established from host[addr]: TLSv1.3 with
// cipher ...") when the loglevel asks for it. Reads and writes through the
// Stream then honour the Stream's timeout as before. Implicit TLS (port
// 465, *_tls_wrappermode) calls start() on a fresh connection.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tls/tls_policy.h"
#include "util/error.h"
#include "util/stream.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

namespace postern {
class Config;
}

namespace postern::tls {

// Who is at the other end, for log lines and certificate checks.
struct Peer {
  std::string name;  // host name (for the client: the server's host name)
  std::string addr;  // printable address
  int port = 0;      // 0: not shown in log lines
  // Client side only:
  std::string nexthop;      // next-hop domain for "nexthop"/"dot-nexthop"
  std::string session_key;  // cache key for session reuse (empty: no reuse)
};

// What a handshake established.
struct Info {
  std::string protocol;  // "TLSv1.3"
  std::string cipher;    // "TLS_AES_256_GCM_SHA384"
  int cipher_bits = 0;
  int cipher_alg_bits = 0;
  std::string key_exchange;    // "X25519"
  std::string server_signature;  // "RSA-PSS (2048 bits)" / "ECDSA (P-256)"
  std::string server_digest;   // "SHA256"
  std::string client_signature;
  std::string client_digest;
  bool peer_has_cert = false;
  bool peer_trusted = false;  // the chain verified against the CA file/path
  bool peer_matched = false;  // name or fingerprint matched (client side)
  std::string peer_cn;        // subject CommonName
  std::string issuer_cn;
  std::string peer_cert_fingerprint;  // digest of the certificate (DER)
  std::string peer_pkey_fingerprint;  // digest of the public key (DER SPKI)
  std::vector<std::string> peer_names;  // DNS subjectAltNames, else the CN
  std::string verify_error;           // why the chain did not verify
  int verify_code = 0;                // X509_V_ERR_* (0: verified)
  std::string top_issuer;             // "/CN=..." issuer of the last certificate sent
  bool session_reused = false;

  // "Anonymous", "Untrusted", "Trusted" or "Verified".
  std::string trust() const;
};

// "<Trust> TLS connection established from|to host[addr][:port]: TLSv1.3
// with cipher X (256/256 bits) key-exchange ... server-signature ..."
std::string summary_line(const Info& info, bool server, const Peer& peer);

// The TLS part of smtpd's Received: header (smtpd_tls_received_header),
// one element per header line, without the leading TAB:
//   (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
//    key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)
//   (No client certificate requested)
// The last element says what became of the client certificate: "(No client
// certificate requested)", "(Client did not present a certificate)" or
// "(Client CN "x", Issuer "y" (verified OK|not verified))".
std::vector<std::string> received_header_lines(const Info& info, bool ccert_requested);

// The TLS session as a Transport; owns the plain transport underneath.
class TlsTransport : public Transport {
 public:
  TlsTransport(SSL* ssl, Info info);
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  Result<size_t> read_some(char* buf, size_t len, Deadline deadline) override;
  Result<size_t> write_some(const char* buf, size_t len, Deadline deadline) override;
  int fd() const override;

  const Info& info() const { return info_; }
  // Sends close_notify (best effort, bounded by the deadline).
  void shutdown(Deadline deadline);
  // Takes ownership of the plain transport whose descriptor the session uses.
  void adopt_lower(std::unique_ptr<Transport> lower) { lower_ = std::move(lower); }

 private:
  SSL* ssl_;
  Info info_;
  std::unique_ptr<Transport> lower_;
  bool closed_ = false;
};

// Parameters shared by both sides, read from the configuration.
struct CommonSettings {
  int loglevel = 0;
  std::string fingerprint_digest = "sha256";
  std::string cafile, capath;
  ProtocolRange protocols;
  std::string ciphers;
  std::string curves;          // ECDHE groups, white-space separated
  bool server_preference = false;  // tls_preempt_cipherlist
};

class ServerContext {
 public:
  // Builds the context from <prefix>_tls_* (prefix "smtpd"). Errors name
  // the parameter or file in Postfix's words ("cannot get RSA private key
  // from file \"/etc/ssl/x.key\""); OpenSSL's or the system's details go to
  // `problems`. What Debian's Postfix then does: log "warning: <error>:
  // disabling TLS support" and "warning: TLS library problem: <p>" for each
  // problem, keep announcing STARTTLS and answer it with "454 4.7.0 TLS not
  // available due to local problem" (at "encrypt", MAIL gets "530 5.7.0
  // Must issue a STARTTLS command first").
  static Result<std::unique_ptr<ServerContext>> create(
      const Config& cfg, std::string_view prefix = "smtpd",
      std::vector<std::string>* problems = nullptr);
  ~ServerContext();

  Level level() const { return level_; }
  bool wrappermode() const { return wrappermode_; }
  bool ask_ccert() const { return ask_ccert_; }
  bool req_ccert() const { return req_ccert_; }

  // Session tickets that every process holding the same key can decrypt,
  // so a client resumes with whichever smtpd process it reaches (Postfix's
  // tlsmgr hands such keys out). `key` is 80 bytes: a 16-byte name, a
  // 32-byte AES-256 key and a 32-byte HMAC-SHA256 key. Without it each
  // process issues tickets under its own random key.
  Status set_ticket_key(std::string_view key);
  const std::string& ticket_key() const { return ticket_key_; }

  // A session cache outside the process (smtpd_tls_session_cache_database
  // through tlsmgr), for clients that resume by session ID rather than by
  // ticket: `store(id, der)` after a full handshake, `fetch(id)` (kNotFound
  // when unknown) when a client offers an ID this process does not hold.
  struct SessionStore {
    std::function<void(std::string_view id, std::string_view der)> store;
    std::function<Result<std::string>(std::string_view id)> fetch;
  };
  void set_session_store(SessionStore store);

  // tls_server_sni_maps: `lookup` answers the value for a name (kNotFound
  // when there is none). A client's SNI name is tried as is, then as
  // ".parent" domains; the value is what `postmap -F` stores (base64 of
  // the PEM keys and chains) or PEM text itself. A name without an entry
  // gets the default certificates; a bad entry is logged and refused.
  using SniLookup = std::function<Result<std::string>(std::string_view name)>;
  void set_sni_lookup(SniLookup lookup);

  // STARTTLS: discard buffered input, handshake, swap the stream's transport.
  // On failure the stream keeps its plain transport (the connection is
  // unusable and should be closed).
  Result<Info> start(Stream& stream, const Peer& peer, Deadline deadline);

 private:
  ServerContext() = default;
  SSL_CTX* ctx_ = nullptr;
  Level level_ = Level::kNone;
  bool wrappermode_ = false;
  bool ask_ccert_ = false;
  bool req_ccert_ = false;
  CommonSettings common_;
  std::string ticket_key_;
  SniLookup sni_lookup_;
  SessionStore session_store_;
  static int new_session_cb(SSL* ssl, SSL_SESSION* session);
  static SSL_SESSION* get_session_cb(SSL* ssl, const unsigned char* id, int len, int* copy);
  std::map<std::string, SSL_CTX*> sni_contexts_;  // by the table value's key
  static int sni_callback(SSL* ssl, int* alert, void* arg);
  SSL_CTX* sni_context(const std::string& name);
};

class ClientContext {
 public:
  // Builds the context from <prefix>_tls_* (prefix "smtp" or "lmtp");
  // errors as for ServerContext::create.
  static Result<std::unique_ptr<ClientContext>> create(
      const Config& cfg, std::string_view prefix = "smtp",
      std::vector<std::string>* problems = nullptr);
  ~ClientContext();

  Level level() const { return level_; }
  bool wrappermode() const { return wrappermode_; }
  // Per-destination overrides (smtp_tls_policy_maps): a level and, for
  // "fingerprint", the digests to match; for verify/secure a match list.
  struct Policy {
    Level level = Level::kNone;
    std::vector<std::string> match;  // empty: the *_cert_match parameter
    std::string protocols;           // empty: *_tls_[mandatory_]protocols
    std::string ciphers;             // a grade; empty: *_tls_[mandatory_]ciphers
    std::vector<std::string> exclude;  // more ciphers to exclude
    std::string servername;          // empty: *_tls_servername
  };
  Policy default_policy() const { return {level_, {}, {}, {}, {}, {}}; }
  // Parses a smtp_tls_policy_maps result such as "secure
  // match=nexthop:dot-nexthop ciphers=high protocols=>=TLSv1.2" (list
  // values are ":" separated); unknown attributes and bad values are errors.
  Result<Policy> parse_policy(std::string_view value) const;

  // Handshake as a client on the stream (after "220 Ready to start TLS",
  // or at once for wrapper mode), then checks the peer as `policy` demands:
  // verify/secure need a trusted chain and a matching name, fingerprint a
  // matching certificate or public-key digest. A failed check is an error
  // (the caller defers the mail; it is never sent in clear). The error text
  // is Postfix's "Server certificate not verified" (dsn 4.7.5); the reason is
  // logged ("server certificate verification failed for host[addr]:port:
  // num=62:hostname mismatch", "certificate verification failed for ...:
  // untrusted issuer /CN=...").
  Result<Info> start(Stream& stream, const Peer& peer, Deadline deadline);
  Result<Info> start(Stream& stream, const Peer& peer, Deadline deadline, const Policy& policy);

  // Number of sessions held for reuse.
  size_t cached_sessions() const { return sessions_.size(); }

 private:
  ClientContext() = default;
  static int new_session_cb(SSL* ssl, SSL_SESSION* session);
  Status check_peer(const Info& info, const std::vector<std::string>& names, const Peer& peer,
                    const Policy& policy) const;
  // Protocols and ciphers for one connection, from the level and policy.
  Status apply_policy(SSL* ssl, const Policy& policy) const;

  SSL_CTX* ctx_ = nullptr;
  Level level_ = Level::kNone;
  bool wrappermode_ = false;
  bool wildcard_multiple_ = true;
  std::string servername_;
  std::vector<std::string> verify_match_, secure_match_, fingerprint_match_;
  CommonSettings common_;            // opportunistic (may) settings
  CommonSettings mandatory_;         // encrypt and above
  std::map<std::string, std::string> grades_;  // "high" → tls_high_cipherlist
  long session_timeout_ = 3600;
  struct Cached {
    SSL_SESSION* session;
    Clock::time_point expires;
  };
  std::map<std::string, Cached> sessions_;
};

// The OpenSSL error queue as text (emptied), for diagnostics.
std::string openssl_errors();

}  // namespace postern::tls
