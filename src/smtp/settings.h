// The client's parameters, read once per process from main.cf with the
// smtp_ or lmtp_ prefix (lmtp falls back to smtp_ for names Postfix only
// has in one spelling).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace postern {
class Config;
}

namespace postern::smtp {

struct Settings {
  bool lmtp = false;
  std::string prefix = "smtp";
  std::string helo_name;
  std::string myhostname;
  std::string default_port;  // smtp_tcp_port / lmtp_tcp_port
  std::chrono::seconds connect_timeout{30}, helo_timeout{300}, starttls_timeout{300},
      mail_timeout{300}, rcpt_timeout{300}, data_init_timeout{120}, data_xfer_timeout{180},
      data_done_timeout{600}, quit_timeout{300}, xforward_timeout{300}, sasl_timeout{300};
  bool skip_5xx_greeting = true;
  bool never_send_ehlo = false;
  bool send_xforward = false;
  bool quote_rfc821 = true;
  bool mime_conversion = true;  // !disable_mime_output_conversion
  bool sasl_auth_soft_bounce = true;
  size_t line_length_limit = 998;
  int mx_address_limit = 5;
  int mx_session_limit = 2;
  std::string bind_address, bind_address6;
  std::vector<std::string> fallback_relay;
  // Lookups.
  bool use_dns = true, use_native = false, mx_lookups = true;
  bool want_v4 = true, want_v6 = true;
  std::string address_preference = "any";
  // SASL.
  bool sasl_enable = false;
  std::string sasl_password_maps;
  bool sender_dependent_auth = false;
  // TLS.
  std::string tls_policy_maps;

  // The parameter name with this client's prefix ("smtp_helo_timeout" →
  // "lmtp_helo_timeout"), or the smtp_ one when the lmtp_ name is unknown.
  std::string param(const Config& cfg, std::string_view smtp_name) const;
  static Settings load(const Config& cfg, bool lmtp);
};

}  // namespace postern::smtp
