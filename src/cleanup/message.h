// The cleanup of one message: queue records from the client (T ... E, as
// cleanup_client.h sends them) in, a queue file out.
//
// Envelope: the sender and recipients are made canonical (trivial-rewrite's
// "local" rule, via RewriteFn, whatever the client's rewrite_context: that
// one governs header rewriting), mapped (canonical maps, masquerading), recipients are
// expanded through virtual_alias_maps and duplicates dropped; each final
// recipient is written as [A notify_flags] A dsn_orig_rcpt O R.
// Content: headers are checked (header/mime/nested_header_checks), the
// Return-Path: header is removed, header addresses are rewritten in the
// local context, missing Message-Id:/Date:/From: are added (local
// context, or always_add_missing_headers); body lines are checked
// (body_checks). The extracted segment gets recipients the client sent
// after X, BCC recipients, and the FILTER/REDIRECT results.
// The caller commits the file when status() is 0 and it is not discarded.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cleanup/actions.h"
#include "cleanup/address_maps.h"
#include "global/mime_state.h"
#include "global/queue_file.h"
#include "maps/address_lookup.h"

namespace postern {
class Config;
}

namespace postern::cleanup {

// The main.cf settings cleanup works with.
struct Settings {
  std::string myhostname = "localhost";
  long long message_size_limit = 10240000;  // 0: no limit
  int hopcount_limit = 50;
  bool always_add_missing_headers = false;
  bool long_queue_ids = false;
  bool header_from_standard = true;     // header_from_format = standard
  std::string undisclosed_recipients_header;
  std::string content_filter;
  std::string always_bcc;
  long long body_checks_size_limit = 51200;
  long long delay_warning_time = 0;  // seconds; 0: no W record
  MimeLimits mime;
  size_t line_length_limit = 2048;
  VirtualLimits virtual_limits;
  MasqueradeSettings masquerade;
  std::set<std::string> canonical_classes{"envelope_sender", "envelope_recipient",
                                          "header_sender", "header_recipient"};
  std::set<std::string> sender_canonical_classes{"envelope_sender", "header_sender"};
  std::set<std::string> recipient_canonical_classes{"envelope_recipient", "header_recipient"};
  std::set<std::string> masquerade_classes{"envelope_sender", "header_sender",
                                           "header_recipient"};
  bool propagate_canonical = true;  // propagate_unmatched_extensions
  bool propagate_virtual = true;
  maps::AddressLookupOptions lookup;  // recipient_delimiter, local domains

  // From the configuration; bad values are errors naming the parameter.
  static Result<Settings> from_config(const Config& cfg);
};

// The lookup tables; empty lists when a parameter is empty.
struct Tables {
  maps::MapList canonical, sender_canonical, recipient_canonical, virtual_alias;
  maps::MapList sender_bcc, recipient_bcc;
  maps::MapList header_checks, mime_header_checks, nested_header_checks, body_checks;

  static Result<Tables> open(const Config& cfg);
  bool changed() const;
};

class Message {
 public:
  // `writer` writes the new queue file; `flags` are the client's
  // kCleanupFlag* bits; `now` stamps create_time and Message-Id.
  Message(const Settings& settings, Tables& tables, RewriteFn rewrite, std::string queue_id,
          QueueFileWriter& writer, int flags, std::time_t now);

  // Takes one record from the client. After a protocol error (status bit
  // kCleanupStatBad) the rest is ignored.
  void record(int type, std::string_view data);
  // A problem outside the message (trivial-rewrite unreachable): the
  // message is not accepted, the client should try again later.
  void temporary_failure(std::string_view log_text) { defer(log_text); }
  // True once the E record arrived (or a protocol error ended the message).
  bool finished() const { return finished_; }

  int status() const { return status_; }
  const std::string& reason() const { return reason_; }
  bool hold() const { return hold_; }
  bool discard() const { return discard_; }
  const std::string& sender() const { return sender_; }
  long recipient_count() const { return rcpt_count_; }

 private:
  enum class Segment { kEnvelope, kContent, kExtracted, kDone };

  void envelope_record(int type, std::string_view data);
  void content_record(int type, std::string_view data);
  void extracted_record(int type, std::string_view data);
  void finish();
  void write_warning_time();
  void protocol_error(std::string_view what);
  void defer(std::string_view log_text);

  // Recipient processing; `bcc_lookup` consults recipient_bcc_maps.
  void add_recipient(const std::string& raw, std::optional<std::string> orig,
                     std::optional<std::string> dsn_orcpt, int notify, bool bcc_lookup);
  std::string map_sender(const std::string& raw);
  std::string map_header_address(const std::string& addr, bool sender_class);

  // Content handling (MimeState callbacks).
  void on_header(HeaderClass cls, std::string_view header);
  void on_header_end(HeaderClass cls);
  void on_body(std::string_view line, bool complete);
  void end_primary_headers();
  void write_text(std::string_view text);  // one or more lines ("\n"-separated)
  maps::MapList* header_table(HeaderClass cls, std::string_view name);
  // Applies a check table; returns the action (kDunno when none).
  Action check(maps::MapList& table, std::string_view text);
  // Handles logging and message-level effects; false if the line goes.
  bool apply(const Action& a, std::string_view what, std::string_view text);
  void log_action(std::string_view word, std::string_view what, std::string_view text,
                  std::string_view extra);

  const Settings& s_;
  Tables& t_;
  RewriteFn rewrite_;
  std::string id_;
  QueueFileWriter& w_;
  int flags_;
  std::time_t now_;

  Segment segment_ = Segment::kEnvelope;
  bool finished_ = false;
  bool started_ = false;  // the C record was written
  int status_ = 0;
  std::string reason_;
  bool hold_ = false, discard_ = false, rejected_ = false;

  long arrival_sec_ = 0;
  bool local_context_ = true;
  bool sender_seen_ = false;
  std::string sender_;
  std::string fullname_;
  bool fullname_seen_ = false;
  std::string client_name_, client_addr_, proto_, helo_;
  std::optional<std::string> pending_orig_, pending_dsn_orcpt_;
  int pending_notify_ = 0;
  std::set<std::string> seen_rcpts_;
  long rcpt_count_ = 0;
  std::string first_rcpt_;
  bool filter_seen_ = false;
  bool warning_written_ = false;

  // Content.
  std::unique_ptr<MimeState> mime_;
  std::string partial_line_;  // L pieces waiting for their N
  long long content_bytes_ = 0;
  long long body_bytes_ = 0;
  bool too_big_ = false;
  bool primary_done_ = false;
  int hops_ = 0;
  std::string message_id_, resent_message_id_;
  bool have_date_ = false, have_from_ = false, have_rcpt_header_ = false;
  bool have_resent_ = false, have_resent_date_ = false, have_resent_from_ = false;
  std::vector<std::string> bcc_actions_;
  std::string redirect_, filter_;
};

}  // namespace postern::cleanup
