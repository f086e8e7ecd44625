#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <fmt/format.h>

#include "global/config.h"
#include "tls/tls_internal.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::tls {

namespace {

// The certificate chain is judged after the handshake, by the policy.
int accept_any(int, X509_STORE_CTX*) { return 1; }

void free_key(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}

// Ex-data slot holding the session-cache key of an SSL object.
int key_index() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_key);
  return index;
}

std::string where(const Peer& peer) {
  std::string w = fmt::format("{}[{}]", peer.name.empty() ? "unknown" : peer.name, peer.addr);
  if (peer.port) w += fmt::format(":{}", peer.port);
  return w;
}

bool is_ip_literal(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

ClientContext::~ClientContext() {
  for (auto& [key, cached] : sessions_) SSL_SESSION_free(cached.session);
  SSL_CTX_free(ctx_);
}

Result<std::unique_ptr<ClientContext>> ClientContext::create(const Config& cfg,
                                                             std::string_view prefix_view,
                                                             std::vector<std::string>* problems) {
  std::vector<std::string> ignored;
  std::vector<std::string>& details = problems ? *problems : ignored;
  std::string prefix(prefix_view);
  std::unique_ptr<ClientContext> self(new ClientContext);
  detail::ignore_sigpipe();
  auto level = client_level(cfg, prefix);
  if (!level) return std::unexpected(level.error());
  self->level_ = *level;
  if (cfg.is_known(prefix + "_tls_wrappermode")) {
    auto w = cfg.bool_value(prefix + "_tls_wrappermode");
    if (!w) return std::unexpected(w.error());
    self->wrappermode_ = *w;
  }
  // Both sets are read (a policy may ask for either level); the context
  // starts with the one for the configured level.
  auto common = detail::read_common(cfg, prefix, false);
  if (!common) return std::unexpected(common.error());
  auto mandatory = detail::read_common(cfg, prefix, true);
  if (!mandatory) return std::unexpected(mandatory.error());
  self->common_ = *common;
  self->mandatory_ = *mandatory;
  for (const char* grade : {"high", "medium", "low", "export", "null"})
    if (auto list = cfg.expand(std::string("tls_") + grade + "_cipherlist"); list)
      self->grades_[grade] = std::string(trim(*list));
  auto ctx = detail::new_context(
      false, level_is_mandatory(self->level_) ? self->mandatory_ : self->common_);
  if (!ctx) return std::unexpected(ctx.error());
  self->ctx_ = *ctx;
  if (auto s = detail::load_certificates(self->ctx_, cfg, prefix, false, details); !s)
    return std::unexpected(s.error());
  SSL_CTX_set_verify(self->ctx_, SSL_VERIFY_PEER, accept_any);
  if (auto depth = cfg.int_value(prefix + "_tls_scert_verifydepth"); depth)
    SSL_CTX_set_verify_depth(self->ctx_, static_cast<int>(*depth));

  auto list = [&](const std::string& name) {
    std::vector<std::string> out;
    if (auto v = cfg.expand(name); v)
      for (auto piece : split(*v)) out.emplace_back(piece);
    return out;
  };
  self->verify_match_ = list(prefix + "_tls_verify_cert_match");
  self->secure_match_ = list(prefix + "_tls_secure_cert_match");
  self->fingerprint_match_ = list(prefix + "_tls_fingerprint_cert_match");
  if (auto v = cfg.expand(prefix + "_tls_servername"); v) self->servername_ = std::string(trim(*v));
  if (auto v = cfg.bool_value("tls_wildcard_matches_multiple_labels"); v)
    self->wildcard_multiple_ = *v;
  if (auto t = cfg.time_value(prefix + "_tls_session_cache_timeout"); t)
    self->session_timeout_ = static_cast<long>(*t);

  SSL_CTX_set_app_data(self->ctx_, self.get());
  SSL_CTX_set_session_cache_mode(self->ctx_,
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(self->ctx_, new_session_cb);
  return self;
}

int ClientContext::new_session_cb(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  auto* key = static_cast<std::string*>(SSL_get_ex_data(ssl, key_index()));
  if (!self || !key || key->empty() || self->session_timeout_ <= 0) return 0;
  auto it = self->sessions_.find(*key);
  if (it != self->sessions_.end()) {
    SSL_SESSION_free(it->second.session);
    self->sessions_.erase(it);
  }
  self->sessions_[*key] = {session, Clock::now() + std::chrono::seconds(self->session_timeout_)};
  return 1;  // we keep the reference
}

Result<Info> ClientContext::start(Stream& stream, const Peer& peer, Deadline deadline) {
  return start(stream, peer, deadline, default_policy());
}

Result<Info> ClientContext::start(Stream& stream, const Peer& peer, Deadline deadline,
                                  const Policy& policy) {
  if (policy.level == Level::kNone) return fail(Errc::kInvalid, "TLS is disabled by policy");
  if (policy.level == Level::kDaneOnly)
    return fail(Errc::kTemporary, "TLS is required by \"dane-only\" but DNSSEC-validated TLSA "
                                  "records are not available");
  if (common_.loglevel >= 2) log::info("setting up TLS connection to {}", where(peer));
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return fail(Errc::kIo, "SSL_new: " + openssl_errors());
  SSL_set_ex_data(ssl, key_index(), new std::string(peer.session_key));
  if (auto applied = apply_policy(ssl, policy); !applied) {
    SSL_free(ssl);
    return std::unexpected(applied.error());
  }

  std::string sni;
  const std::string& servername = policy.servername.empty() ? servername_ : policy.servername;
  if (iequals(servername, "hostname"))
    sni = peer.name;
  else if (iequals(servername, "nexthop"))
    sni = peer.nexthop;
  else
    sni = servername;
  if (!sni.empty() && !is_ip_literal(sni)) SSL_set_tlsext_host_name(ssl, sni.c_str());

  if (!peer.session_key.empty()) {
    auto it = sessions_.find(peer.session_key);
    if (it != sessions_.end()) {
      if (it->second.expires > Clock::now()) {
        SSL_set_session(ssl, it->second.session);
      } else {
        SSL_SESSION_free(it->second.session);
        sessions_.erase(it);
      }
    }
  }

  std::vector<std::string> problems;
  auto t = detail::start_on_stream(stream, ssl, deadline, false, common_.fingerprint_digest,
                                   &problems);
  if (!t) {
    detail::log_handshake_failure("SSL_connect error to " + where(peer), t.error(), problems);
    return std::unexpected(t.error());
  }
  Info info = (*t)->info();
  if (auto s = check_peer(info, info.peer_names, peer, policy); !s) {
    // As Postfix: the reason, the summary (now "Untrusted"), and a short
    // text for the delivery status ("dsn=4.7.5 ... (Server certificate not verified)").
    log::info("{}", s.error().text);
    info.peer_trusted = false;
    if (common_.loglevel >= 1) log::info("{}", summary_line(info, false, peer));
    return fail(Errc::kTemporary, "Server certificate not verified");
  }
  if (policy.level >= Level::kFingerprint) info.peer_matched = true;
  if (common_.loglevel >= 2 && info.peer_has_cert)
    log::info("{}: subject_CN={}, issuer_CN={}, fingerprint={}, pkey_fingerprint={}", where(peer),
              info.peer_cn, info.issuer_cn, info.peer_cert_fingerprint,
              info.peer_pkey_fingerprint);
  if (common_.loglevel >= 1) log::info("{}", summary_line(info, false, peer));
  return info;
}

Status ClientContext::apply_policy(SSL* ssl, const Policy& policy) const {
  bool mandatory = level_is_mandatory(policy.level);
  const CommonSettings& base = mandatory ? mandatory_ : common_;
  ProtocolRange range = base.protocols;
  if (!policy.protocols.empty()) {
    auto r = parse_protocols("TLS policy protocols", policy.protocols);
    if (!r) return std::unexpected(r.error());
    range = *r;
  }
  SSL_set_min_proto_version(ssl, range.min_version);
  SSL_set_max_proto_version(ssl, range.max_version);
  SSL_clear_options(ssl, SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
                             SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3);
  SSL_set_options(ssl, range.disable_options);

  std::string ciphers = base.ciphers;
  if (!policy.ciphers.empty()) {
    auto it = grades_.find(lowercase(policy.ciphers));
    if (it == grades_.end())
      return fail(Errc::kInvalid, "invalid TLS policy ciphers grade " + quoted(policy.ciphers));
    ciphers = it->second;
  }
  for (const auto& x : policy.exclude) ciphers += ":!" + x;
  if (policy.level >= Level::kFingerprint || policy.level == Level::kDaneOnly)
    ciphers += ":!aNULL";
  if (SSL_set_cipher_list(ssl, ciphers.c_str()) != 1)
    return fail(Errc::kInvalid, "invalid cipher list " + quoted(ciphers) + ": " + openssl_errors());
  return {};
}

Result<ClientContext::Policy> ClientContext::parse_policy(std::string_view value) const {
  auto words = split(value);
  if (words.empty()) return fail(Errc::kInvalid, "empty TLS policy");
  Policy p;
  auto level = parse_level(words[0]);
  if (!level) return std::unexpected(level.error());
  p.level = *level;
  auto list = [](std::string_view v) {
    std::vector<std::string> out;
    for (auto piece : split(v, ":")) out.emplace_back(piece);
    return out;
  };
  for (size_t i = 1; i < words.size(); ++i) {
    std::string_view w = words[i];
    size_t eq = w.find('=');
    if (eq == std::string_view::npos)
      return fail(Errc::kInvalid, "TLS policy attribute without a value: " + quoted(w));
    std::string name = lowercase(w.substr(0, eq));
    std::string_view v = w.substr(eq + 1);
    if (name == "match") {
      p.match = list(v);
    } else if (name == "protocols") {
      p.protocols = std::string(v);
      if (auto r = parse_protocols("TLS policy protocols", p.protocols); !r)
        return std::unexpected(r.error());
    } else if (name == "ciphers") {
      if (!grades_.contains(lowercase(v)))
        return fail(Errc::kInvalid, "invalid TLS policy ciphers grade " + quoted(v));
      p.ciphers = std::string(v);
    } else if (name == "exclude") {
      p.exclude = list(v);
    } else if (name == "servername") {
      p.servername = std::string(v);
    } else if (name == "tafile" || name == "connection_reuse" || name == "enable_rpk") {
      // Accepted; trust anchors, connection reuse and raw public keys are not implemented.
    } else {
      return fail(Errc::kInvalid, "unknown TLS policy attribute " + quoted(name));
    }
  }
  return p;
}

Status ClientContext::check_peer(const Info& info, const std::vector<std::string>& names,
                                 const Peer& peer, const Policy& policy) const {
  // The texts are the log lines Postfix's smtp writes for the same failures.
  auto failed = [&](std::string_view why) {
    return fail(Errc::kTemporary,
                fmt::format("server certificate verification failed for {}: {}", where(peer), why));
  };
  switch (policy.level) {
    case Level::kFingerprint: {
      const auto& wanted = policy.match.empty() ? fingerprint_match_ : policy.match;
      if (info.peer_has_cert)
        for (const auto& w : wanted)
          if (fingerprint_equal(w, info.peer_cert_fingerprint) ||
              fingerprint_equal(w, info.peer_pkey_fingerprint))
            return {};
      // Postfix checks fingerprints as DANE records: a well-formed digest
      // that does not match says so; when none is usable, the error is generic.
      size_t digest_hex = 0;
      for (char ch : info.peer_cert_fingerprint)
        if (ch != ':') ++digest_hex;
      bool usable = false;
      for (const auto& w : wanted) {
        size_t hex = 0;
        for (char ch : w)
          if (ch != ':') ++hex;
        if (digest_hex && hex == digest_hex) usable = true;
      }
      return failed(usable ? "num=65:no matching DANE TLSA records"
                           : "num=1:unspecified certificate verification error");
    }
    case Level::kVerify:
    case Level::kSecure: {
      if (!info.peer_has_cert) return failed("num=1:unspecified certificate verification error");
      if (!info.peer_trusted) {
        switch (info.verify_code) {
          case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
          case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
          case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
          case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
          case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
            return fail(Errc::kTemporary,
                        fmt::format("certificate verification failed for {}: untrusted issuer {}",
                                    where(peer), info.top_issuer));
          default:
            return failed(fmt::format("num={}:{}", info.verify_code, info.verify_error));
        }
      }
      const auto& strategies = !policy.match.empty() ? policy.match
                               : policy.level == Level::kVerify ? verify_match_
                                                                : secure_match_;
      for (const auto& pattern : match_patterns(strategies, peer.name, peer.nexthop))
        for (const auto& name : names)
          if (name_matches(pattern, name, wildcard_multiple_)) return {};
      return failed("num=62:hostname mismatch");
    }
    default:
      return {};
  }
}

}  // namespace postern::tls
