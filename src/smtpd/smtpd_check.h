// smtpd's access restrictions (smtpd_{client,helo,sender,relay,recipient,
// data,end_of_data,etrn}_restrictions), evaluated as Postfix does: each
// list is read left to right and the first restriction that decides wins;
// `permit` ends only its own list, a reject ends everything.
//
// Everything outside the process (trivial-rewrite, lookup tables, the
// policy service, DNS) is reached through CheckLookups, so the unit tests
// drive the rules with fakes.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "global/attr.h"
#include "global/match_list.h"
#include "global/resolve_reply.h"
#include "util/error.h"

namespace postern {
class Config;
}

namespace postern::smtpd {

// An SMTP reply: "554 5.7.1 <x@y>: Relay access denied" is {554, "5.7.1", "<x@y>: Relay ..."}.
struct Reply {
  int code = 0;
  std::string dsn;
  std::string text;
  std::string str() const;
};

class CheckLookups {
 public:
  virtual ~CheckLookups() = default;
  virtual Result<ResolveReply> resolve(std::string_view sender, std::string_view address) = 0;
  // One table lookup (the TableLookup contract of match_list.h).
  virtual Result<std::string> table(std::string_view spec, std::string_view key, bool partial) = 0;
  // One policy delegation request to `endpoint` ("unix:private/policy",
  // "inet:127.0.0.1:9998"); answers the action text.
  virtual Result<std::string> policy(std::string_view endpoint, const AttrList& request) = 0;
  // A records of `name` (rbl lookups, unknown domains); kNotFound when none.
  virtual Result<std::vector<std::string>> dns_a(std::string_view name) = 0;
  // MX or A/AAAA exists for `domain`: true/false, kTemporary on DNS trouble.
  virtual Result<bool> domain_exists(std::string_view domain) = 0;
  virtual Result<std::vector<std::string>> dns_txt(std::string_view name) = 0;
};

// What the restrictions see of the session, and what they leave behind.
struct CheckState {
  std::string client_name = "unknown";   // verified name or "unknown"
  std::string reverse_name = "unknown";  // PTR name (not forward-confirmed)
  std::string client_addr;
  int client_port = 0;
  std::string helo;              // empty before HELO/EHLO
  std::optional<std::string> sender;  // set after MAIL FROM
  std::string recipient;         // current RCPT TO (or VRFY) address
  std::string protocol = "SMTP";
  std::string sasl_username;
  // TLS, once the handshake is done (client certificate restrictions).
  bool tls_active = false;
  bool ccert_present = false;   // the client sent a certificate
  bool ccert_trusted = false;   // ... and its chain verified
  std::string ccert_fingerprint, ccert_pkey_fingerprint;  // smtpd_tls_fingerprint_digest
  std::string ccert_subject;    // the certificate's CommonName
  bool unauth_pipelining = false;   // the client sent ahead without PIPELINING
  std::string etrn_domain;
  int recipient_count = 0;
  long long size = 0;

  // Actions collected on the way (access maps, policy service).
  bool discard = false;
  bool hold = false;
  std::string hold_reason;
  std::string filter;
  std::string redirect;
  std::vector<std::string> prepend;

  // Called for every action that Postfix logs: action is "reject",
  // "reject_warning", "hold", "discard", "warn", "filter", "redirect";
  // `stage` is "CONNECT", "HELO", "MAIL", "RCPT", "DATA", "END-OF-MESSAGE",
  // "VRFY", "ETRN"; `text` is the reply or the detail.
  std::function<void(std::string_view action, std::string_view stage, std::string_view text)> log;
};

enum class Stage { kClient, kHelo, kSender, kRecipient, kData, kEndOfData, kEtrn, kVrfy };

class Checker {
 public:
  // Reads the restriction lists and the codes from `cfg`. Errors name the
  // parameter (an unknown restriction is reported when it is used, as Postfix does).
  static Result<Checker> from_config(const Config& cfg, CheckLookups& lookups);

  // nullopt: go ahead. A reply: reject (or defer) with it.
  // kClient/kHelo/kSender honour smtpd_delay_reject (nothing until RCPT);
  // kRecipient runs the delayed lists first, then relay and recipient lists.
  std::optional<Reply> check(Stage stage, CheckState& state);

  bool delay_reject() const { return delay_reject_; }
  // Every lookup table the restrictions may consult, so the daemon can
  // open them before it drops privileges.
  std::vector<std::string> tables() const;
  bool helo_required() const { return helo_required_; }

 private:
  enum class Result3 { kDunno, kPermit, kReject };
  struct Outcome {
    Result3 result = Result3::kDunno;
    Reply reply;
  };
  Outcome run_list(std::string_view param, const std::vector<std::string>& list, Stage stage,
                   CheckState& state, int depth);
  Outcome run_one(const std::vector<std::string>& list, size_t& i, Stage stage, CheckState& state,
                  int depth);
  Outcome access(std::string_view spec, Stage stage, CheckState& state, int depth,
                 std::string_view what);
  Outcome action(std::string_view value, std::string_view table_name, Stage stage,
                 CheckState& state, int depth, std::string_view reply_name,
                 std::string_view reply_class);
  Outcome policy(std::string_view endpoint, Stage stage, CheckState& state, int depth);
  Outcome reject(CheckState& state, Stage stage, int code, std::string_view dsn, std::string text);
  Outcome unauth_destination(CheckState& state, Stage stage, bool defer, bool permit_form);
  Outcome unlisted_recipient(CheckState& state, Stage stage, std::string_view address,
                             bool is_sender);
  // TLS client certificate and SASL login restrictions (smtpd_check_auth.cc):
  // permit_tls_clientcerts, permit_tls_all_clientcerts, check_ccert_access,
  // reject_*sender_login_mismatch. nullopt: `name` is none of them.
  std::optional<Outcome> auth_restriction(std::string_view name, const std::vector<std::string>& words,
                                          size_t& i, Stage stage, CheckState& state, int depth);
  // The reply for a DNSBL hit: rbl_reply_maps (keyed by the zone as written
  // in the restriction, then the bare zone), else default_rbl_reply.
  Outcome rbl_reply(CheckState& state, Stage stage, const std::string& spec,
                    const std::string& zone, std::string_view rbl_class,
                    const std::string& rbl_what, const std::string& reason);
  Outcome login_mismatch(CheckState& state, Stage stage, bool check_auth, bool allow_unknown,
                         bool check_unauth);
  // Looks `keys` up in each table of a maps list parameter; kNotFound when none has it.
  Result<std::string> find_in_maps(std::string_view param, const std::vector<std::pair<std::string, bool>>& keys);
  std::vector<std::string> list(std::string_view param) const;
  long long code(std::string_view param) const;

  const Config* cfg_ = nullptr;
  CheckLookups* lookups_ = nullptr;
  std::map<std::string, std::vector<std::string>, std::less<>> lists_;
  std::map<std::string, std::vector<std::string>, std::less<>> classes_;
  MatchList mynetworks_;
  MatchList relay_domains_;
  MatchList permit_mx_backup_;
  bool delay_reject_ = true;
  bool helo_required_ = false;
  bool soft_bounce_ = false;
  bool warn_if_reject_ = false;
  // Delayed client/helo/sender verdict, computed once per transaction.
  std::optional<std::optional<Reply>> delayed_;
  std::string delayed_key_;
};

// The stage name Postfix puts in log lines ("RCPT", "MAIL", ...).
std::string_view stage_name(Stage stage);

}  // namespace postern::smtpd
