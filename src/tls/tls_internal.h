// Helpers shared by the server and client contexts (not a public API).
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>
#include <vector>

#include "tls/tls.h"

namespace postern::tls::detail {

// Writing to a socket the peer has closed must be an error, not death:
// sets SIGPIPE to "ignore" unless the program chose a handler itself.
void ignore_sigpipe();
// Reads loglevel, digest, CA locations, protocols and ciphers for
// <prefix>_tls_*; `mandatory` picks the *_mandatory_* protocol and cipher
// parameters. `extra_exclusions` are appended as ":!X".
Result<CommonSettings> read_common(const Config& cfg, const std::string& prefix, bool mandatory,
                                   std::vector<std::string> extra_exclusions = {});
// A new SSL_CTX with protocols, ciphers, groups and CA locations applied.
Result<SSL_CTX*> new_context(bool server, const CommonSettings& common);
// Loads every key and certificate chain from *_tls_chain_files (a key and
// its chain per group, RSA and ECDSA together), or from the legacy
// cert_file/key_file, eccert_file/eckey_file pairs. `required`: fail when
// nothing is configured.
// Errors read as Postfix's ("cannot get RSA private key from file \"...\"");
// OpenSSL's or the system's details go to `problems`.
Status load_certificates(SSL_CTX* ctx, const Config& cfg, const std::string& prefix,
                         bool required, std::vector<std::string>& problems);
// Installs the keys and chains of PEM `text` (a key and its chain per
// group, as in *_tls_chain_files); `label` names the source in errors.
Status load_pem_text(SSL_CTX* ctx, const std::string& text, const std::string& label,
                     std::vector<std::string>& problems);
// Runs SSL_do_handshake on a non-blocking descriptor until done or the
// deadline; on a protocol error `problems` receives OpenSSL's error lines.
Status handshake(SSL* ssl, Deadline deadline, std::vector<std::string>* problems = nullptr);
// Logs a failed handshake as Postfix does: "<what>: Connection timed out",
// "<what>: lost connection", or "<what>: -1" followed by one
// "warning: TLS library problem: ..." per OpenSSL error.
void log_handshake_failure(std::string_view what, const Error& error,
                           const std::vector<std::string>& problems);
// Fills in Info after a handshake.
Info collect_info(SSL* ssl, bool server, const std::string& digest);
// DNS subjectAltNames of a certificate, or its CN when there are none.
std::vector<std::string> certificate_names(X509* cert);
// Starts TLS on the stream with a ready SSL object: handshake, swap transport.
Result<TlsTransport*> start_on_stream(Stream& stream, SSL* ssl, Deadline deadline, bool server,
                                      const std::string& digest,
                                      std::vector<std::string>* problems = nullptr);

}  // namespace postern::tls::detail
