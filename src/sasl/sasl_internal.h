// Shared by the SASL back ends (not a public API).
#pragma once

#include <memory>
#include <string>

#include "sasl/sasl_server.h"
#include "util/stream.h"
#include "util/unique_fd.h"

namespace postern::sasl::detail {

struct ServerSettings {
  std::string type;             // smtpd_sasl_type
  std::string path;             // smtpd_sasl_path (resolved for dovecot)
  std::string configured_path;  // smtpd_sasl_path as written (for log lines)
  std::string service;          // smtpd_sasl_service ("smtp")
  std::string hostname;         // myhostname
  std::string realm;            // smtpd_sasl_local_domain
  std::string config_path;      // cyrus_sasl_config_path
  std::string filter;           // smtpd_sasl_mechanism_filter
  SecurityOptions options;      // smtpd_sasl_security_options
  SecurityOptions tls_options;  // smtpd_sasl_tls_security_options
};

Result<std::unique_ptr<ServerBackend>> make_cyrus_server(const ServerSettings& settings);
Result<std::unique_ptr<ServerBackend>> make_dovecot_server(const ServerSettings& settings);

// Connects to "inet:host:port", "unix:/path" or "/path" within the deadline.
Result<UniqueFd> connect_endpoint(const std::string& endpoint, Deadline deadline);

// The failure reply for undecodable client input, with the back end's words.
ServerReply malformed_reply(std::string reason);

}  // namespace postern::sasl::detail
