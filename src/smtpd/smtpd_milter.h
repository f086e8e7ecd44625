// smtpd_milters for one SMTP session: the connection, HELO, MAIL FROM,
// RCPT TO and DATA events go to the milters from smtpd; the content (the
// headers, body and end of message, where the milters may change the
// message) is inspected by cleanup, which gets the milter connections
// over the cleanup socket (CleanupClient::send_milters) with the macros.
//
// A rejection is logged as Postfix does ("NOQUEUE: milter-reject: RCPT
// from host[addr]: 550 5.7.1 Command rejected; from=<...> to=<...> ...")
// and its reply goes to the client.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "global/milter.h"
#include "smtpd/smtpd_check.h"

namespace postern {
class Config;
}

namespace postern::smtpd {

class MessageSink;

class SmtpdMilter {
 public:
  // nullptr when smtpd_milters is empty (or malformed: logged);
  // `local_addr`/`local_port` are the server's end. connect() connects.
  static std::shared_ptr<SmtpdMilter> create(const Config& cfg, const std::string& local_addr,
                                             int local_port);
  ~SmtpdMilter();

  // Each event: nullopt to go on, or the reply to give the client. A
  // DISCARD sets st.discard.
  std::optional<std::string> connect(CheckState& st);
  std::optional<std::string> helo(CheckState& st, bool ehlo);
  std::optional<std::string> mail(CheckState& st, const std::string& args);
  std::optional<std::string> rcpt(CheckState& st, const std::string& args);
  std::optional<std::string> data(CheckState& st, const std::string& queue_id);
  // A transaction ends without a message (RSET, rejected, new HELO).
  void abort();
  // Hands the milters to cleanup for the content; the transaction is then
  // cleanup's.
  Status hand_over(MessageSink& sink, const CheckState& st);

 private:
  SmtpdMilter(const Config& cfg, std::vector<milter::Settings> settings, std::string local_addr,
              int local_port);
  std::optional<std::string> verdict(CheckState& st, std::string_view stage,
                                     const milter::Reply& r);
  milter::MacroFn macros(const CheckState& st);

  std::vector<milter::Settings> settings_;
  milter::MilterList list_;  // connected by connect()
  std::string myhostname_, daemon_name_, macro_v_;
  std::string local_addr_;
  int local_port_ = 0;
  std::string queue_id_;
  std::string rcpt_;
  // A rejection at connect or HELO time applies to every MAIL FROM.
  std::optional<std::string> session_reject_;
  bool in_message_ = false;
};

}  // namespace postern::smtpd
