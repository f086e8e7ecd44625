// tls_server_sni_maps: a certificate chain per name the client asks for
// with the TLS Server Name Indication extension.
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <fmt/format.h>

#include "tls/tls_internal.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::tls {

namespace {

// postmap -F stores base64; a value that already is PEM passes unchanged.
std::optional<std::string> decode_value(std::string_view value) {
  if (value.find("-----BEGIN") != std::string_view::npos) return std::string(value);
  std::string in;
  for (char c : value)
    if (!isspace(static_cast<unsigned char>(c))) in += c;
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = in.ends_with("==") ? 2 : in.ends_with("=") ? 1 : 0;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace

void ServerContext::set_sni_lookup(SniLookup lookup) {
  sni_lookup_ = std::move(lookup);
  SSL_CTX_set_tlsext_servername_callback(ctx_, sni_callback);
  SSL_CTX_set_tlsext_servername_arg(ctx_, this);
}

// The context holding the chain for `name` (or a parent domain's), made on
// first use; nullptr when the table has nothing (default certificates).
SSL_CTX* ServerContext::sni_context(const std::string& name) {
  std::vector<std::string> keys{name};
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1))
    keys.push_back(name.substr(dot));
  for (const auto& key : keys) {
    if (auto it = sni_contexts_.find(key); it != sni_contexts_.end()) return it->second;
    auto value = sni_lookup_(key);
    if (!value) {
      if (value.error().code == Errc::kNotFound) continue;
      log::warn("tls_server_sni_maps lookup of {}: {}", key, value.error().text);
      return nullptr;
    }
    auto pem = decode_value(*value);
    std::vector<std::string> problems;
    Status st = pem ? Status{} : fail(Errc::kInvalid, "malformed BASE64 value");
    SSL_CTX* ctx = nullptr;
    if (st) {
      // CA locations are not read again (smtpd has dropped privileges by
      // now): the entry's context shares the main context's trust store.
      CommonSettings settings = common_;
      settings.cafile.clear();
      settings.capath.clear();
      auto c = detail::new_context(true, settings);
      if (c) {
        ctx = *c;
        X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
        X509_STORE_up_ref(store);
        SSL_CTX_set_cert_store(ctx, store);
      } else {
        st = std::unexpected(c.error());
      }
    }
    if (st) st = detail::load_pem_text(ctx, *pem, "tls_server_sni_maps entry for " + key, problems);
    if (!st) {
      log::warn("{}: {}", key, st.error().text);
      for (const auto& p : problems) log::warn("TLS library problem: {}", p);
      SSL_CTX_free(ctx);
      return nullptr;
    }
    static const unsigned char kSidContext[] = "postern-smtpd";
    SSL_CTX_set_session_id_context(ctx, kSidContext, sizeof kSidContext - 1);
    // Ticket keys and the session store are found through the context's
    // app data, also after the switch.
    SSL_CTX_set_app_data(ctx, this);
    sni_contexts_[key] = ctx;
    return ctx;
  }
  return nullptr;
}

int ServerContext::sni_callback(SSL* ssl, int* alert, void* arg) {
  (void)alert;
  auto* self = static_cast<ServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name || !*name || !self->sni_lookup_) return SSL_TLSEXT_ERR_NOACK;
  std::string lower = lowercase(name);
  while (!lower.empty() && lower.back() == '.') lower.pop_back();
  SSL_CTX* ctx = self->sni_context(lower);
  if (!ctx) return SSL_TLSEXT_ERR_NOACK;
  if (self->common_.loglevel >= 2) log::info("SNI name {}: using its own certificates", lower);
  SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace postern::tls
