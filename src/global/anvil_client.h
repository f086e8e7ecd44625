// Client of the anvil service (private/anvil; protocol in src/anvil/anvil.cc
// and COMPAT.md section 5), for smtpd's client limits:
//   smtpd_client_connection_count_limit   <- connect().count
//   smtpd_client_connection_rate_limit    <- connect().rate
//   smtpd_client_message_rate_limit       <- message()
//   smtpd_client_recipient_rate_limit     <- recipient()
//   smtpd_client_new_tls_session_rate_limit <- newtls(), newtls_status()
//   smtpd_client_auth_rate_limit          <- auth()
// The connection is opened on first use and kept; a broken connection is
// reopened once per request. Every failure is an Error, and callers
// (like Postfix's smtpd) then skip the limit rather than refuse mail.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "global/attr.h"
#include "util/error.h"
#include "util/stream.h"

namespace postern {

class Config;

struct AnvilCounts {
  int count = 0;  // open connections (connect, lookup)
  int rate = 0;   // the rate the request asked about
  int mail = 0, rcpt = 0, newtls = 0, auth = 0;  // lookup only
};

class AnvilClient {
 public:
  // `socket_path` is the anvil socket (normally queue_directory/private/anvil).
  explicit AnvilClient(std::string socket_path,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // $queue_directory/private/$anvil_service_name, timeout $ipc_timeout.
  static AnvilClient from_config(const Config& cfg);

  // "service:address", the key anvil counts under.
  static std::string ident(std::string_view service, std::string_view address);

  Result<AnvilCounts> connect(std::string_view service, std::string_view addr);
  Status disconnect(std::string_view service, std::string_view addr);
  Result<int> message(std::string_view service, std::string_view addr);
  Result<int> recipient(std::string_view service, std::string_view addr);
  Result<int> newtls(std::string_view service, std::string_view addr);
  Result<int> newtls_status(std::string_view service, std::string_view addr);
  Result<int> auth(std::string_view service, std::string_view addr);
  Result<AnvilCounts> lookup(std::string_view service, std::string_view addr);

  // Drops the connection (anvil then forgets this client's open connections).
  void close() { stream_.reset(); }

 private:
  Result<AttrList> request(std::string_view name, std::string_view service,
                           std::string_view addr);
  Status open();

  std::string path_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Stream> stream_;
};

}  // namespace postern
