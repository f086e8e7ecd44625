// One SMTP session: reads commands from the client, answers them as
// Postfix's smtpd does, runs the restrictions (smtpd_check.h) and hands
// accepted mail to cleanup through a MessageSink.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "global/anvil_client.h"
#include "global/cleanup_client.h"
#include "sasl/sasl_server.h"
#include "tls/tls.h"
#include "smtpd/smtpd_check.h"
#include "util/stream.h"

namespace postern {
class Config;
}

namespace postern::smtpd {

class SmtpdMilter;

// Where an accepted message goes (cleanup in the daemon, a fake in tests).
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  virtual const std::string& queue_id() const = 0;
  virtual Status record(int type, std::string_view data) = 0;
  virtual Result<CleanupOutcome> finish() = 0;
  // Hands milter connections over (smtpd_milter.h); cleanup only.
  virtual Status send_milters(const std::vector<int>&, const std::vector<AttrList>&) {
    return fail(Errc::kInvalid, "milters not supported");
  }
};
using SinkOpener = std::function<Result<std::unique_ptr<MessageSink>>(int flags)>;

// A MessageSink over the real cleanup service.
SinkOpener cleanup_opener(const Config& cfg);

// The settings a session reads once.
struct SessionSettings {
  std::string myhostname;
  std::string banner;      // expanded smtpd_banner
  std::string mail_name;
  std::string content_filter;  // this service's content_filter (-o content_filter=...)
  bool no_content_filter = false;  // "-o content_filter=" overrides main.cf's
  long long message_size_limit = 10240000;
  long long recipient_limit = 1000;
  long long soft_error_limit = 10;
  long long hard_error_limit = 20;
  long long error_sleep_time = 1;
  long long junk_command_limit = 100;
  long long line_length_limit = 2048;
  std::chrono::seconds timeout{300};
  std::vector<std::string> discard_ehlo_keywords;
  bool disable_vrfy = false;
  bool forbid_bare_newline = false;
  bool strict_rfc821 = false;
  bool helo_required = false;
  std::string null_access_key;
  std::string fast_flush_domains;
  bool tls_auth_only = false;
  std::string queue_directory;
  long long queue_minfree = 0;
  long long conn_count_limit = 50;
  long long conn_rate_limit = 0;
  long long message_rate_limit = 0;
  long long recipient_rate_limit = 0;
  bool sasl_enable = false;
  bool broken_sasl_auth_clients = false;
  std::chrono::seconds starttls_timeout{300};
  bool tls_received_header = false;     // smtpd_tls_received_header
  bool sasl_authenticated_header = false;  // smtpd_sasl_authenticated_header
  long long auth_rate_limit = 0;        // smtpd_client_auth_rate_limit
  long long sasl_response_limit = 12288;  // smtpd_sasl_response_limit
  long long newtls_rate_limit = 0;      // smtpd_client_new_tls_session_rate_limit
  static SessionSettings from_config(const Config& cfg);
};

// Optional services: TLS (STARTTLS, wrapper mode) and SASL (AUTH).
struct Extensions {
  tls::ServerContext* tls = nullptr;   // null: no STARTTLS
  bool tls_required = false;           // smtpd_tls_security_level = encrypt
  bool tls_unavailable = false;        // encrypt, but TLS could not be set up
  sasl::ServerBackend* sasl = nullptr; // null: no AUTH
  AnvilClient* anvil = nullptr;        // null: no client limits
  // smtpd_authorized_xclient_hosts / _xforward_hosts for a name and address.
  std::function<bool(const std::string& name, const std::string& addr)> xclient_authorized;
  std::function<bool(const std::string& name, const std::string& addr)> xforward_authorized;
  std::string service;                 // master.cf service name (anvil key)
  std::shared_ptr<SmtpdMilter> milter; // null: no smtpd_milters
  // smtpd_sasl_exceptions_networks: clients not offered AUTH in EHLO.
  std::function<bool(const std::string& name, const std::string& addr)> sasl_exception;
};

class Session {
 public:
  Session(Stream& stream, const SessionSettings& settings, Checker& checker, SinkOpener opener,
          CheckState client, Extensions ext = {});
  // Runs until QUIT, EOF, timeout or a fatal error; logs connect/disconnect.
  void run();

 private:
  bool handle(const std::string& line);
  void reply(std::string_view text);
  void reply(const Reply& r) { reply(r.str()); }
  bool cmd_helo(const std::string& args, bool ehlo);
  bool cmd_mail(const std::string& args);
  bool cmd_rcpt(const std::string& args);
  bool cmd_data(const std::string& args);
  bool cmd_bdat(const std::string& args);
  void bdat_feed(std::string_view data);
  void bdat_line(std::string_view line);
  Status begin_content();
  bool cmd_vrfy(const std::string& args);
  bool cmd_etrn(const std::string& args);
  bool cmd_starttls(const std::string& args);
  bool cmd_xclient(const std::string& args);
  bool cmd_xforward(const std::string& args);
  bool cmd_auth(const std::string& args);
  bool start_tls();
  bool newtls_rate_exceeded();
  void set_protocol();
  bool auth_offered() const;
  void reset();
  Status open_queue();
  Status send_envelope_recipient(const std::string& rcpt, int notify, const std::string& orcpt);
  std::string received_header();
  void abort_queue();
  // Finishes the message; returns the reply.
  std::string finish_message(bool too_big, bool write_error);
  Status content_line(std::string_view line, bool complete);
  std::string namaddr() const;
  void log_action(std::string_view action, std::string_view stage, std::string_view text);
  void count(std::string_view name, bool ok);
  std::string disconnect_stats() const;

  Stream& s_;
  const SessionSettings& cfg_;
  Checker& checker_;
  SinkOpener opener_;
  CheckState st_;
  std::unique_ptr<MessageSink> sink_;
  bool queue_failed_ = false;
  bool ehlo_ = false;
  bool in_mail_ = false;
  bool quit_ = false;
  std::string last_command_ = "CONNECT";
  std::vector<std::string> recipients_;
  int rcpt_attempts_ = 0;
  long long msg_size_ = 0;    // SIZE= from MAIL FROM
  std::string envid_, ret_;
  std::string sasl_sender_;  // MAIL FROM ... AUTH=<addr>
  bool smtputf8_ = false;
  std::string body_type_;
  long long data_bytes_ = 0;
  bool in_header_ = true;
  int error_count_ = 0;
  int junk_count_ = 0;
  bool pipelining_logged_ = false;
  // BDAT state
  bool bdat_active_ = false;
  bool bdat_error_ = false;
  bool bdat_too_big_ = false;
  std::string bdat_partial_;
  struct Counter {
    std::string name;
    int ok = 0, total = 0;
  };
  std::vector<Counter> counters_;
  Extensions ext_;
  bool tls_active_ = false;
  bool xclient_ok_ = false, xforward_ok_ = false;
  std::vector<std::pair<std::string, std::string>> xforward_;  // log_* attributes
  std::string sasl_method_;
  std::optional<tls::Info> tls_info_;
  std::unique_ptr<sasl::Session> sasl_session_;
};

}  // namespace postern::smtpd
