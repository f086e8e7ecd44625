#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <cstring>

#include <fmt/format.h>

#include "global/config.h"
#include "tls/tls_internal.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::tls {

namespace {

// Client certificates are requested but judged after the handshake.
int accept_any(int, X509_STORE_CTX*) { return 1; }

Status load_dh(SSL_CTX* ctx, const std::string& file) {
  auto text = read_file(file, 1 << 20);
  if (!text)
    return fail(Errc::kInvalid,
                fmt::format("cannot load DH parameters from file \"{}\": {}", file,
                            text.error().text));
  BIO* bio = BIO_new_mem_buf(text->data(), static_cast<int>(text->size()));
  EVP_PKEY* dh = PEM_read_bio_Parameters(bio, nullptr);
  BIO_free(bio);
  if (!dh || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
    EVP_PKEY_free(dh);
    return fail(Errc::kInvalid, fmt::format("cannot load DH parameters from file \"{}\": {}",
                                            file, openssl_errors()));
  }
  return {};
}

// Encrypts new tickets under the shared key; decrypts tickets that carry
// its name (others get a full handshake).
int ticket_callback(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                    EVP_MAC_CTX* mac, int encrypt) {
  auto* self = static_cast<const ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!self || self->ticket_key().size() != 80) return -1;
  auto* key = reinterpret_cast<const unsigned char*>(self->ticket_key().data());
  const unsigned char* aes = key + 16;
  unsigned char hmac[32];
  std::memcpy(hmac, key + 48, sizeof hmac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, hmac, sizeof hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (encrypt) {
    std::memcpy(name, key, 16);
    if (RAND_bytes(iv, 16) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, aes, iv) != 1) return -1;
    return EVP_MAC_CTX_set_params(mac, params) == 1 ? 1 : -1;
  }
  if (std::memcmp(name, key, 16) != 0) return 0;
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  return EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, aes, iv) == 1 ? 1 : -1;
}

std::string where(const Peer& peer) {
  return fmt::format("{}[{}]", peer.name.empty() ? "unknown" : peer.name, peer.addr);
}

}  // namespace

ServerContext::~ServerContext() {
  for (auto& [name, c] : sni_contexts_) SSL_CTX_free(c);
  SSL_CTX_free(ctx_);
}

Status ServerContext::set_ticket_key(std::string_view key) {
  if (key.size() != 80)
    return fail(Errc::kInvalid, "TLS session ticket key must be 80 bytes, not " +
                                    std::to_string(key.size()));
  ticket_key_ = std::string(key);
  SSL_CTX_set_app_data(ctx_, this);
  if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx_, ticket_callback) != 1)
    return fail(Errc::kIo, "cannot set the TLS session ticket callback: " + openssl_errors());
  return {};
}

Result<std::unique_ptr<ServerContext>> ServerContext::create(const Config& cfg,
                                                             std::string_view prefix_view,
                                                             std::vector<std::string>* problems) {
  std::vector<std::string> ignored;
  std::vector<std::string>& details = problems ? *problems : ignored;
  std::string prefix(prefix_view);
  std::unique_ptr<ServerContext> self(new ServerContext);
  detail::ignore_sigpipe();
  auto level = server_level(cfg, prefix);
  if (!level) return std::unexpected(level.error());
  self->level_ = *level;
  auto flag = [&](const std::string& name) -> Result<bool> {
    if (!cfg.is_known(name)) return false;
    return cfg.bool_value(name);
  };
  auto ask = flag(prefix + "_tls_ask_ccert");
  auto req = flag(prefix + "_tls_req_ccert");
  auto wrapper = flag(prefix + "_tls_wrappermode");
  if (!ask) return std::unexpected(ask.error());
  if (!req) return std::unexpected(req.error());
  if (!wrapper) return std::unexpected(wrapper.error());
  self->wrappermode_ = *wrapper;
  // Requiring a certificate only makes sense when TLS itself is required.
  self->req_ccert_ = *req && self->level_ == Level::kEncrypt;
  if (*req && !self->req_ccert_)
    log::warn("{}_tls_req_ccert requires {}_tls_security_level = encrypt; asking only", prefix,
              prefix);
  self->ask_ccert_ = *ask || *req;

  std::vector<std::string> extra;
  if (self->ask_ccert_) extra.emplace_back("aNULL");
  auto common = detail::read_common(cfg, prefix, self->level_ == Level::kEncrypt, extra);
  if (!common) return std::unexpected(common.error());
  self->common_ = *common;
  auto ctx = detail::new_context(true, self->common_);
  if (!ctx) return std::unexpected(ctx.error());
  self->ctx_ = *ctx;
  if (auto s = detail::load_certificates(self->ctx_, cfg, prefix, true, details); !s)
    return std::unexpected(s.error());

  auto dh_file = cfg.expand(prefix + "_tls_dh1024_param_file");
  if (dh_file && !trim(*dh_file).empty()) {
    if (auto s = load_dh(self->ctx_, std::string(trim(*dh_file))); !s)
      return std::unexpected(s.error());
  } else {
    SSL_CTX_set_dh_auto(self->ctx_, 1);
  }

  if (self->ask_ccert_) {
    int mode = SSL_VERIFY_PEER | (self->req_ccert_ ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(self->ctx_, mode, accept_any);
    if (auto depth = cfg.int_value(prefix + "_tls_ccert_verifydepth"); depth)
      SSL_CTX_set_verify_depth(self->ctx_, static_cast<int>(*depth));
    if (!self->common_.cafile.empty()) {
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(self->common_.cafile.c_str());
      if (names) SSL_CTX_set_client_CA_list(self->ctx_, names);
      ERR_clear_error();
    }
  }
  // Session resumption: tickets (stateless) plus the in-process cache.
  static const unsigned char kSidContext[] = "postern-smtpd";
  SSL_CTX_set_session_id_context(self->ctx_, kSidContext, sizeof kSidContext - 1);
  auto timeout = cfg.time_value(prefix + "_tls_session_cache_timeout");
  if (!timeout) return std::unexpected(timeout.error());
  if (*timeout > 0) {
    SSL_CTX_set_timeout(self->ctx_, static_cast<long>(*timeout));
    SSL_CTX_set_session_cache_mode(self->ctx_, SSL_SESS_CACHE_SERVER);
  } else {
    // 0 turns session resumption off, as in Postfix.
    SSL_CTX_set_session_cache_mode(self->ctx_, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(self->ctx_, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(self->ctx_, 0);
  }
  return self;
}

Result<Info> ServerContext::start(Stream& stream, const Peer& peer, Deadline deadline) {
  if (common_.loglevel >= 2) {
    log::info("setting up TLS connection from {}", where(peer));
    log::info("{}: TLS cipher list \"{}\"", where(peer), common_.ciphers);
  }
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return fail(Errc::kIo, "SSL_new: " + openssl_errors());
  std::vector<std::string> problems;
  auto t = detail::start_on_stream(stream, ssl, deadline, true, common_.fingerprint_digest,
                                   &problems);
  if (!t) {
    detail::log_handshake_failure("SSL_accept error from " + where(peer), t.error(), problems);
    return std::unexpected(t.error());
  }
  const Info& info = (*t)->info();
  if (info.peer_has_cert && common_.loglevel >= 2)
    log::info("{}: subject_CN={}, issuer={}, fingerprint={}, pkey_fingerprint={}", where(peer),
              info.peer_cn, info.issuer_cn, info.peer_cert_fingerprint,
              info.peer_pkey_fingerprint);
  if (req_ccert_ && !(info.peer_has_cert && info.peer_trusted)) {
    std::string why = info.peer_has_cert ? "client certificate not trusted: " + info.verify_error
                                         : "client certificate required";
    log::info("{}: {}", where(peer), why);
    return fail(Errc::kPermanent, why);
  }
  if (common_.loglevel >= 1) log::info("{}", summary_line(info, true, peer));
  return info;
}

}  // namespace postern::tls
