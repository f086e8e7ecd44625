// Server sessions kept outside the process (smtpd_tls_session_cache_database
// through tlsmgr), so a client that resumes by session ID reaches any smtpd.
#include <openssl/ssl.h>

#include "tls/tls_internal.h"

namespace postern::tls {

void ServerContext::set_session_store(SessionStore store) {
  session_store_ = std::move(store);
  SSL_CTX_set_app_data(ctx_, this);
  SSL_CTX_sess_set_new_cb(ctx_, new_session_cb);
  SSL_CTX_sess_set_get_cb(ctx_, get_session_cb);
}

int ServerContext::new_session_cb(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!self || !self->session_store_.store) return 0;
  unsigned int id_len = 0;
  const unsigned char* id = SSL_SESSION_get_id(session, &id_len);
  int len = i2d_SSL_SESSION(session, nullptr);
  if (len <= 0 || id_len == 0) return 0;
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_SSL_SESSION(session, &p);
  self->session_store_.store(std::string_view(reinterpret_cast<const char*>(id), id_len), der);
  return 0;  // we did not keep a reference
}

SSL_SESSION* ServerContext::get_session_cb(SSL* ssl, const unsigned char* id, int len, int* copy) {
  *copy = 0;
  auto* self = static_cast<ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!self || !self->session_store_.fetch || len <= 0) return nullptr;
  auto der = self->session_store_.fetch(
      std::string_view(reinterpret_cast<const char*>(id), static_cast<size_t>(len)));
  if (!der) return nullptr;
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  return d2i_SSL_SESSION(nullptr, &p, static_cast<long>(der->size()));
}

}  // namespace postern::tls
