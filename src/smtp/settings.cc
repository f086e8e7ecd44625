#include "smtp/settings.h"

#include "global/config.h"
#include "util/inet.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::smtp {

std::string Settings::param(const Config& cfg, std::string_view smtp_name) const {
  std::string name(smtp_name);
  if (prefix == "smtp" || !name.starts_with("smtp_")) return name;
  std::string other = prefix + name.substr(4);
  return cfg.is_known(other) ? other : name;
}

Settings Settings::load(const Config& cfg, bool lmtp) {
  Settings s;
  s.lmtp = lmtp;
  s.prefix = lmtp ? "lmtp" : "smtp";
  auto str = [&](std::string_view n) { return cfg.get(s.param(cfg, n)); };
  auto secs = [&](std::string_view n) { return std::chrono::seconds(cfg.get_time(s.param(cfg, n))); };
  s.myhostname = cfg.get("myhostname");
  s.helo_name = lmtp ? cfg.get("lmtp_lhlo_name") : str("smtp_helo_name");
  s.default_port = lmtp ? cfg.get("lmtp_tcp_port") : str("smtp_tcp_port");
  s.connect_timeout = secs("smtp_connect_timeout");
  s.helo_timeout = secs(lmtp ? "lmtp_lhlo_timeout" : "smtp_helo_timeout");
  s.starttls_timeout = secs("smtp_starttls_timeout");
  s.mail_timeout = secs("smtp_mail_timeout");
  s.rcpt_timeout = secs("smtp_rcpt_timeout");
  s.data_init_timeout = secs("smtp_data_init_timeout");
  s.data_xfer_timeout = secs("smtp_data_xfer_timeout");
  s.data_done_timeout = secs("smtp_data_done_timeout");
  s.quit_timeout = secs("smtp_quit_timeout");
  s.xforward_timeout = secs("smtp_xforward_timeout");
  s.sasl_timeout = secs(lmtp ? "lmtp_lhlo_timeout" : "smtp_helo_timeout");
  s.skip_5xx_greeting = cfg.get_bool(s.param(cfg, "smtp_skip_5xx_greeting"));
  s.never_send_ehlo = !lmtp && cfg.get_bool("smtp_never_send_ehlo");
  s.send_xforward = cfg.get_bool(s.param(cfg, "smtp_send_xforward_command"));
  s.quote_rfc821 = cfg.get_bool(s.param(cfg, "smtp_quote_rfc821_envelope"));
  s.mime_conversion = !cfg.get_bool("disable_mime_output_conversion");
  s.sasl_auth_soft_bounce = cfg.get_bool(s.param(cfg, "smtp_sasl_auth_soft_bounce"));
  long long limit = cfg.get_int(s.param(cfg, "smtp_line_length_limit"));
  s.line_length_limit = limit > 0 ? static_cast<size_t>(limit) : 0;
  s.mx_address_limit = static_cast<int>(cfg.get_int(s.param(cfg, "smtp_mx_address_limit")));
  s.mx_session_limit = static_cast<int>(cfg.get_int(s.param(cfg, "smtp_mx_session_limit")));
  s.bind_address = std::string(trim(str("smtp_bind_address")));
  s.bind_address6 = std::string(trim(str("smtp_bind_address6")));
  s.fallback_relay = split(str("smtp_fallback_relay"));
  // With one non-loopback inet_interfaces address, mail goes out from it.
  if (s.bind_address.empty()) {
    auto ifs = split(cfg.get("inet_interfaces"));
    if (ifs.size() == 1)
      if (auto a = IpAddress::parse(ifs[0]); a && a->is_v4() && !a->is_loopback())
        s.bind_address = a->to_string();
  }

  std::string lookup = lowercase(str("smtp_host_lookup"));
  s.use_dns = lookup.find("dns") != std::string::npos;
  s.use_native = lookup.find("native") != std::string::npos;
  if (!s.use_dns && !s.use_native) s.use_dns = true;
  std::string support = lowercase(str("smtp_dns_support_level"));
  if (cfg.get_bool("disable_dns_lookups") || support == "disabled") {
    s.use_dns = false;
    s.use_native = true;
  }
  s.mx_lookups = s.use_dns && !lmtp;
  std::string protocols = lowercase(cfg.get("inet_protocols"));
  if (protocols.find("all") == std::string::npos) {
    s.want_v4 = protocols.find("ipv4") != std::string::npos;
    s.want_v6 = protocols.find("ipv6") != std::string::npos;
    if (!s.want_v4 && !s.want_v6) s.want_v4 = true;
  }
  s.address_preference = lowercase(trim(str("smtp_address_preference")));

  s.sasl_enable = cfg.get_bool(s.param(cfg, "smtp_sasl_auth_enable"));
  s.sasl_password_maps = str("smtp_sasl_password_maps");
  s.sender_dependent_auth = cfg.get_bool(s.param(cfg, "smtp_sender_dependent_authentication"));
  s.tls_policy_maps = str("smtp_tls_policy_maps");
  return s;
}

}  // namespace postern::smtp
