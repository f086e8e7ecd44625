// SASL authentication for the SMTP client (smtp/lmtp) with Cyrus SASL.
//
// The caller looks up smtp_sasl_password_maps itself and passes the
// credentials ("user", "password"). Typical use after EHLO:
//   auto c = sasl::Client::create(config(), "relay.example.com", user, pass,
//                                 sasl::Client::Channel::kTls);
//   auto first = (*c)->start(ehlo_auth_mechanisms);   // {mech, initial response}
//   send "AUTH <mech> <initial>"; while the server answers 334 <challenge>:
//     send (*c)->step(challenge)
// A failure to agree on a mechanism is an error; the caller defers the mail.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

typedef struct sasl_conn sasl_conn_t;
typedef struct sasl_secret sasl_secret_t;

namespace postern {
class Config;
}

namespace postern::sasl {

class Client {
 public:
  // What protects the connection; picks the security options parameter.
  enum class Channel {
    kPlain,        // smtp_sasl_security_options
    kTls,          // smtp_sasl_tls_security_options
    kTlsVerified,  // smtp_sasl_tls_verified_security_options (server verified)
  };
  // Reads the security options for `channel` and smtp_sasl_mechanism_filter
  // (prefix "smtp" or "lmtp").
  static Result<std::unique_ptr<Client>> create(const Config& cfg, std::string_view server_host,
                                                std::string_view username,
                                                std::string_view password, Channel channel,
                                                std::string_view prefix = "smtp");
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  struct First {
    std::string mechanism;
    // Base64 text for "AUTH <mech> <initial>"; "=" for an empty one;
    // nullopt: send "AUTH <mech>" and wait for a challenge.
    std::optional<std::string> initial;
  };
  // Picks a mechanism from the server's list (the EHLO AUTH words).
  Result<First> start(const std::vector<std::string>& server_mechanisms);
  // Answers a base64 challenge with a base64 response.
  Result<std::string> step(std::string_view challenge);

 private:
  Client() = default;
  static int get_simple(void* context, int id, const char** result, unsigned* len);
  static int get_secret(sasl_conn_t* conn, void* context, int id, sasl_secret_t** secret);

  sasl_conn_t* conn_ = nullptr;
  std::string username_;
  std::string password_;
  std::string filter_;
  sasl_secret_t* secret_ = nullptr;
  struct Callbacks;
  std::unique_ptr<Callbacks> callbacks_;
};

}  // namespace postern::sasl
