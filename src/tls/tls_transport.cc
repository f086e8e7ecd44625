#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>

#include "tls/tls.h"

namespace postern::tls {

TlsTransport::TlsTransport(SSL* ssl, Info info) : ssl_(ssl), info_(std::move(info)) {}

TlsTransport::~TlsTransport() {
  if (!closed_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // one try, never waits (fast shutdown)
  }
  ERR_clear_error();
  SSL_free(ssl_);
}

int TlsTransport::fd() const { return SSL_get_fd(ssl_); }

namespace {

// Shared by read and write: what to do after a call that did not succeed.
// Returns an error, or nothing when the caller should retry.
Status after_failure(SSL* ssl, int ret, Deadline deadline, bool* eof) {
  int err = SSL_get_error(ssl, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return wait_fd(SSL_get_fd(ssl), POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE:
      return wait_fd(SSL_get_fd(ssl), POLLOUT, deadline);
    case SSL_ERROR_ZERO_RETURN:
      *eof = true;
      return fail(Errc::kEof, "lost connection");
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        *eof = true;
        return fail(Errc::kEof, "lost connection");
      }
      [[fallthrough]];
    default: {
      std::string why = openssl_errors();
      return fail(Errc::kIo, "TLS I/O error" + (why.empty() ? "" : ": " + why));
    }
  }
}

}  // namespace

Result<size_t> TlsTransport::read_some(char* buf, size_t len, Deadline deadline) {
  for (;;) {
    ERR_clear_error();
    size_t n = 0;
    int r = SSL_read_ex(ssl_, buf, len, &n);
    if (r == 1) return n;
    bool eof = false;
    if (auto s = after_failure(ssl_, r, deadline, &eof); !s) {
      if (eof || s.error().code == Errc::kIo) closed_ = true;
      return std::unexpected(s.error());
    }
  }
}

Result<size_t> TlsTransport::write_some(const char* buf, size_t len, Deadline deadline) {
  for (;;) {
    ERR_clear_error();
    size_t n = 0;
    int r = SSL_write_ex(ssl_, buf, len, &n);
    if (r == 1) return n;
    bool eof = false;
    if (auto s = after_failure(ssl_, r, deadline, &eof); !s) {
      if (eof || s.error().code == Errc::kIo) closed_ = true;
      return std::unexpected(s.error());
    }
  }
}

void TlsTransport::shutdown(Deadline deadline) {
  if (closed_) return;
  closed_ = true;
  for (int i = 0; i < 4; ++i) {
    ERR_clear_error();
    int r = SSL_shutdown(ssl_);
    if (r >= 0) return;  // close_notify sent (we do not wait for the peer's)
    int err = SSL_get_error(ssl_, r);
    short events = err == SSL_ERROR_WANT_WRITE ? POLLOUT : err == SSL_ERROR_WANT_READ ? POLLIN : 0;
    if (!events || !wait_fd(SSL_get_fd(ssl_), events, deadline)) return;
  }
}

}  // namespace postern::tls
