#include "cleanup/message.h"

#include <cstdlib>

#include <fmt/format.h>

#include "global/cleanup_client.h"
#include "global/mail_date.h"
#include "global/rec_type.h"
#include "global/rfc822_address.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::cleanup {

namespace {

// Header name (before the colon), as written.
std::string_view header_name(std::string_view header) {
  size_t colon = header.find(':');
  if (colon == std::string_view::npos) return {};
  return trim_right(header.substr(0, colon));
}

std::string_view header_value(std::string_view header) {
  size_t colon = header.find(':');
  if (colon == std::string_view::npos) return {};
  return header.substr(colon + 1);
}

bool is_mime_header(std::string_view name) {
  return iequals(name, "MIME-Version") || istarts_with(name, "Content-");
}

bool is_sender_header(std::string_view n) {
  for (std::string_view h : {"From", "Sender", "Reply-To", "Errors-To", "Return-Receipt-To",
                             "Resent-From", "Resent-Sender", "Resent-Reply-To"})
    if (iequals(n, h)) return true;
  return false;
}

bool is_recipient_header(std::string_view n) {
  for (std::string_view h :
       {"To", "Cc", "Bcc", "Apparently-To", "Resent-To", "Resent-Cc", "Resent-Bcc"})
    if (iequals(n, h)) return true;
  return false;
}

// A display name as it may appear before <addr>: quoted when it holds
// specials.
std::string display_name(std::string_view name) {
  if (name.find_first_of("()<>[]:;@\\,.\"") == std::string_view::npos) return std::string(name);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Message::Message(const Settings& settings, Tables& tables, RewriteFn rewrite,
                 std::string queue_id, QueueFileWriter& writer, int flags, std::time_t now)
    : s_(settings),
      t_(tables),
      rewrite_(std::move(rewrite)),
      id_(std::move(queue_id)),
      w_(writer),
      flags_(flags),
      now_(now) {
  if (flags_ & kCleanupFlagHold) hold_ = true;
  if (flags_ & kCleanupFlagDiscard) discard_ = true;
  MimeCallbacks cb;
  cb.header = [this](HeaderClass cls, std::string_view h) { on_header(cls, h); };
  cb.header_end = [this](HeaderClass cls) { on_header_end(cls); };
  cb.body = [this](std::string_view line, bool complete) { on_body(line, complete); };
  mime_ = std::make_unique<MimeState>(std::move(cb), s_.mime);
}

void Message::protocol_error(std::string_view what) {
  log::warn("{}: message rejected: {}", id_, what);
  status_ |= kCleanupStatBad;
  finished_ = true;
  segment_ = Segment::kDone;
}

void Message::defer(std::string_view log_text) {
  if (!(status_ & kCleanupStatDefer))
    log::warn("{}: {} -- message not accepted, try again later", id_, log_text);
  status_ |= kCleanupStatDefer;
  if (reason_.empty()) reason_ = "4.3.0 Temporary lookup failure";
}

void Message::record(int type, std::string_view data) {
  switch (segment_) {
    case Segment::kEnvelope: envelope_record(type, data); break;
    case Segment::kContent: content_record(type, data); break;
    case Segment::kExtracted: extracted_record(type, data); break;
    case Segment::kDone: break;
  }
}

// ---------------------------------------------------------------- envelope

std::string Message::map_sender(const std::string& raw) {
  if (raw.empty()) return raw;
  std::string a = rewrite_ ? rewrite_("local", raw) : raw;
  if (flags_ & kCleanupFlagMapOk) {
    if (s_.sender_canonical_classes.count("envelope_sender")) {
      auto r = canonical_lookup(t_.sender_canonical, a, s_.lookup, s_.propagate_canonical);
      if (!r) defer("sender_canonical_maps map lookup problem for " + a);
      else a = *r;
    }
    if (s_.canonical_classes.count("envelope_sender")) {
      auto r = canonical_lookup(t_.canonical, a, s_.lookup, s_.propagate_canonical);
      if (!r) defer("canonical_maps map lookup problem for " + a);
      else a = *r;
    }
    if (s_.masquerade_classes.count("envelope_sender")) a = masquerade(s_.masquerade, a);
  }
  return a;
}

void Message::add_recipient(const std::string& raw, std::optional<std::string> orig,
                            std::optional<std::string> dsn_orcpt, int notify, bool bcc_lookup) {
  std::string a = raw.empty() ? raw : (rewrite_ ? rewrite_("local", raw) : raw);
  std::string o = orig ? *orig : raw;
  std::string dsn = dsn_orcpt ? *dsn_orcpt : "rfc822;" + a;
  std::vector<std::string> finals{a};
  if ((flags_ & kCleanupFlagMapOk) && !a.empty()) {
    if (s_.recipient_canonical_classes.count("envelope_recipient")) {
      auto r = canonical_lookup(t_.recipient_canonical, a, s_.lookup, s_.propagate_canonical);
      if (!r) defer("recipient_canonical_maps map lookup problem for " + a);
      else a = *r;
    }
    if (s_.canonical_classes.count("envelope_recipient")) {
      auto r = canonical_lookup(t_.canonical, a, s_.lookup, s_.propagate_canonical);
      if (!r) defer("canonical_maps map lookup problem for " + a);
      else a = *r;
    }
    if (s_.masquerade_classes.count("envelope_recipient")) a = masquerade(s_.masquerade, a);
    auto expanded = expand_virtual(t_.virtual_alias, a, s_.lookup, s_.virtual_limits, rewrite_,
                                   s_.propagate_virtual);
    if (!expanded) {
      defer(expanded.error().text);
      return;
    }
    finals = std::move(*expanded);
  }
  for (const auto& f : finals) {
    std::string key = lowercase(f) + "\n" + o + "\n" + std::to_string(notify);
    if (!seen_rcpts_.insert(key).second) continue;
    if (!rejected_) {
      write_warning_time();
      if (notify) w_.attr("notify_flags", std::to_string(notify));
      w_.attr("dsn_orig_rcpt", dsn);
      w_.recipient(f, std::string_view(o));
    }
    if (rcpt_count_++ == 0) first_rcpt_ = a;
  }
  if (bcc_lookup && (flags_ & kCleanupFlagBccOk) && !t_.recipient_bcc.empty() && !a.empty()) {
    auto bcc = maps::find_address(t_.recipient_bcc, a, s_.lookup);
    if (bcc) {
      for (auto b : split(*bcc)) add_recipient(std::string(b), std::nullopt, std::nullopt, 0, false);
    } else if (bcc.error().code != Errc::kNotFound) {
      defer("recipient_bcc_maps map lookup problem for " + a);
    }
  }
}

void Message::write_warning_time() {
  // In the envelope, before the first recipient: arrival + delay_warning_time.
  if (warning_written_ || segment_ != Segment::kEnvelope || s_.delay_warning_time <= 0) return;
  warning_written_ = true;
  w_.warning_time(static_cast<long>((arrival_sec_ ? arrival_sec_ : now_) + s_.delay_warning_time));
}

void Message::envelope_record(int type, std::string_view data) {
  if (!started_) {
    w_.size_record();
    started_ = true;
  }
  switch (type) {
    case rec::kTime: {
      auto sp = data.find(' ');
      arrival_sec_ = parse_long(data.substr(0, sp)).value_or(now_);
      w_.record(rec::kTime, data);
      w_.attr("create_time", std::to_string(now_));
      return;
    }
    case rec::kAttr: {
      size_t eq = data.find('=');
      if (eq == std::string_view::npos) return protocol_error("bad attribute record");
      std::string_view name = data.substr(0, eq), value = data.substr(eq + 1);
      if (name == "dsn_orig_rcpt") { pending_dsn_orcpt_ = std::string(value); return; }
      if (name == "notify_flags") { pending_notify_ = parse_long(value).value_or(0); return; }
      if (name == "rewrite_context") local_context_ = value != "remote";
      if (name == "log_client_name") client_name_ = value;
      if (name == "log_client_address") client_addr_ = value;
      if (name == "log_protocol_name") proto_ = value;
      if (name == "log_helo_name") helo_ = value;
      if (name == "create_time") return;  // ours wins
      w_.record(rec::kAttr, data);
      return;
    }
    case rec::kFullName:
      fullname_ = data;
      fullname_seen_ = true;
      w_.record(type, data);
      return;
    case rec::kSender:
      if (sender_seen_) return protocol_error("duplicate sender record");
      sender_seen_ = true;
      sender_ = map_sender(std::string(data));
      w_.sender(sender_);
      // sender_bcc_maps: the copy comes first, right after the sender (as Postfix).
      if ((flags_ & kCleanupFlagBccOk) && !t_.sender_bcc.empty() && !sender_.empty()) {
        auto bcc = maps::find_address(t_.sender_bcc, sender_, s_.lookup);
        if (bcc) {
          for (auto b : split(*bcc)) add_recipient(std::string(b), std::nullopt, std::nullopt, 0, false);
        } else if (bcc.error().code != Errc::kNotFound) {
          defer("sender_bcc_maps map lookup problem for " + sender_);
        }
      }
      return;
    case rec::kOrigRecipient:
      pending_orig_ = std::string(data);
      return;
    case rec::kRecipient:
      if (!sender_seen_) return protocol_error("recipient record before sender");
      add_recipient(std::string(data), pending_orig_, pending_dsn_orcpt_, pending_notify_, true);
      pending_orig_.reset();
      pending_dsn_orcpt_.reset();
      pending_notify_ = 0;
      return;
    case rec::kFilter:
      filter_seen_ = true;
      w_.record(type, data);
      return;
    case rec::kMessage:
      if (!sender_seen_) return protocol_error("message has no sender record");
      if (!filter_seen_ && !s_.content_filter.empty()) w_.record(rec::kFilter, s_.content_filter);
      write_warning_time();
      w_.message_start();
      segment_ = Segment::kContent;
      return;
    case rec::kSize:
    case rec::kCreateTime:
    case rec::kDone:
    case rec::kCanceled:
    case rec::kFlags: {
      // A front end's late decision (smtpd's HOLD or DISCARD access
      // actions, found after cleanup was contacted); other bits are ignored,
      // as Postfix's cleanup does, and the record is not stored.
      int extra = std::atoi(std::string(data).c_str());
      if (extra & kCleanupFlagHold) hold_ = true;
      if (extra & kCleanupFlagDiscard) discard_ = true;
      return;
    }
    case rec::kDelay:
    case rec::kMilterCount:
      return;  // not taken from clients
    default:
      if (rec::kEnvelopeTypes.find(static_cast<char>(type)) == std::string_view::npos)
        return protocol_error(fmt::format("unexpected record type {} in envelope", type));
      w_.record(type, data);
  }
}

// ----------------------------------------------------------------- content

void Message::content_record(int type, std::string_view data) {
  if (type == rec::kCont) {
    if (partial_line_.size() + data.size() > static_cast<size_t>(s_.message_size_limit) &&
        s_.message_size_limit > 0) {
      too_big_ = true;
      partial_line_.clear();
      return;
    }
    partial_line_.append(data);
    return;
  }
  if (type == rec::kNorm) {
    std::string line = std::move(partial_line_);
    partial_line_.clear();
    line.append(data);
    content_bytes_ += static_cast<long long>(line.size()) + 1;
    if (too_big_) return;
    mime_->feed(line, true);
    // message_size_limit bounds the queue file, envelope included (as Postfix).
    if (s_.message_size_limit > 0 && w_.offset() > s_.message_size_limit) too_big_ = true;
    return;
  }
  if (type == rec::kPadding || type == rec::kPointer) return;
  if (type == rec::kExtracted) {
    mime_->finish();
    if (!primary_done_) end_primary_headers();
    if (!rejected_) w_.extracted_start();
    segment_ = Segment::kExtracted;
    return;
  }
  protocol_error(fmt::format("unexpected record type {} in message content", type));
}

maps::MapList* Message::header_table(HeaderClass cls, std::string_view name) {
  if (!(flags_ & kCleanupFlagFilter)) return nullptr;
  if (is_mime_header(name)) return &t_.mime_header_checks;
  if (cls == HeaderClass::kPrimary) return &t_.header_checks;
  if (cls == HeaderClass::kNested) return &t_.nested_header_checks;
  return nullptr;
}

Action Message::check(maps::MapList& table, std::string_view text) {
  if (table.empty()) return {};
  auto found = table.find(text);
  if (!found) {
    if (found.error().code != Errc::kNotFound)
      defer(fmt::format("{} map lookup problem", table.title()));
    return {};
  }
  std::string error;
  auto action = parse_action(*found, &error);
  if (!action) {
    log::warn("{}: {}: {}", id_, table.title(), error);
    return {};
  }
  return *action;
}

void Message::log_action(std::string_view word, std::string_view what, std::string_view text,
                         std::string_view extra) {
  std::string origin = client_name_.empty() && client_addr_.empty()
                           ? "local"
                           : fmt::format("{}[{}]", client_name_, client_addr_);
  std::string line = fmt::format("{}: {}: {} {} from {}; from=<{}>", id_, word, what,
                                 printable(text.substr(0, 200)), origin, sender_);
  if (!first_rcpt_.empty()) line += fmt::format(" to=<{}>", first_rcpt_);
  if (!proto_.empty()) line += fmt::format(" proto={}", proto_);
  if (!helo_.empty()) line += fmt::format(" helo=<{}>", helo_);
  if (!extra.empty()) line += fmt::format(": {}", extra);
  log::info("{}", line);
}

bool Message::apply(const Action& a, std::string_view what, std::string_view text) {
  switch (a.kind) {
    case ActionKind::kDunno:
      return true;
    case ActionKind::kReject:
      if (!rejected_) {
        reason_ = reject_reason(a.text);
        log_action("reject", what, text, reason_);
        status_ |= kCleanupStatContent;
        rejected_ = true;
      }
      return false;
    case ActionKind::kWarn:
    case ActionKind::kInfo:
      log_action(action_log_word(a.kind), what, text, a.text);
      return true;
    case ActionKind::kHold:
      log_action("hold", what, text, a.text);
      hold_ = true;
      return true;
    case ActionKind::kDiscard:
      log_action("discard", what, text, a.text);
      discard_ = true;
      return true;
    case ActionKind::kIgnore:
      return false;
    case ActionKind::kPrepend:
      write_text(a.text);
      return true;
    case ActionKind::kReplace:
      log_action("replace", what, text, a.text);
      write_text(a.text);
      return false;
    case ActionKind::kRedirect:
      log_action("redirect", what, text, a.text);
      redirect_ = a.text;
      return true;
    case ActionKind::kFilter:
      log_action("filter", what, text, a.text);
      filter_ = a.text;
      return true;
    case ActionKind::kBcc:
      log_action("bcc", what, text, a.text);
      bcc_actions_.push_back(a.text);
      return true;
  }
  return true;
}

void Message::write_text(std::string_view text) {
  if (rejected_) return;
  for (auto line : split(text, "\n")) w_.content_line(line, s_.line_length_limit);
  if (text.empty()) w_.content_line("", s_.line_length_limit);
}

std::string Message::map_header_address(const std::string& addr, bool sender_class) {
  if (addr.empty()) return addr;
  std::string a = rewrite_ ? rewrite_("local", addr) : addr;
  if (!(flags_ & kCleanupFlagMapOk)) return a;
  std::string cls = sender_class ? "header_sender" : "header_recipient";
  maps::MapList& own = sender_class ? t_.sender_canonical : t_.recipient_canonical;
  const auto& own_classes =
      sender_class ? s_.sender_canonical_classes : s_.recipient_canonical_classes;
  if (own_classes.count(cls)) {
    if (auto r = canonical_lookup(own, a, s_.lookup, s_.propagate_canonical)) a = *r;
  }
  if (s_.canonical_classes.count(cls)) {
    if (auto r = canonical_lookup(t_.canonical, a, s_.lookup, s_.propagate_canonical)) a = *r;
  }
  if (s_.masquerade_classes.count(cls)) a = masquerade(s_.masquerade, a);
  return a;
}

void Message::on_header(HeaderClass cls, std::string_view header) {
  std::string_view name = header_name(header);
  if (maps::MapList* table = header_table(cls, name)) {
    Action a = check(*table, header);
    if (!apply(a, "header", header)) return;
  }
  if (cls != HeaderClass::kPrimary) {
    write_text(header);
    return;
  }
  // Return-Path: is the delivery agent's to add; Bcc: must not be seen.
  if (iequals(name, "Return-Path") || iequals(name, "Bcc") || iequals(name, "Resent-Bcc")) return;
  std::string value(trim(header_value(header)));
  if (iequals(name, "Received")) ++hops_;
  if (iequals(name, "Message-Id")) message_id_ = value;
  if (iequals(name, "Resent-Message-Id")) resent_message_id_ = value;
  if (iequals(name, "Date")) have_date_ = true;
  if (iequals(name, "From")) have_from_ = true;
  if (iequals(name, "Resent-Date")) have_resent_date_ = true;
  if (iequals(name, "Resent-From")) have_resent_from_ = true;
  if (istarts_with(name, "Resent-")) have_resent_ = true;
  bool sender_hdr = is_sender_header(name), rcpt_hdr = is_recipient_header(name);
  if (rcpt_hdr && !istarts_with(name, "Resent-")) have_rcpt_header_ = true;
  if (local_context_ && (sender_hdr || rcpt_hdr)) {
    std::string_view raw_value = header_value(header);
    std::string rewritten = rewrite_header_addresses(
        raw_value, [&](const std::string& a) { return map_header_address(a, sender_hdr); });
    if (rewritten != raw_value) {
      write_text(std::string(header.substr(0, header.size() - raw_value.size())) + rewritten);
      return;
    }
  }
  write_text(header);
}

void Message::on_header_end(HeaderClass cls) {
  if (cls == HeaderClass::kPrimary && !primary_done_) end_primary_headers();
}

void Message::end_primary_headers() {
  primary_done_ = true;
  if (s_.hopcount_limit > 0 && hops_ > s_.hopcount_limit && !rejected_) {
    log::warn("{}: message rejected: hopcount exceeded", id_);
    status_ |= kCleanupStatHops;
    rejected_ = true;
    return;  // Postfix logs no message-id for it
  }
  bool add = local_context_ || s_.always_add_missing_headers;
  if (add) {
    std::string_view p = have_resent_ ? "Resent-" : "";
    std::string& mid = have_resent_ ? resent_message_id_ : message_id_;
    if (mid.empty()) {
      std::tm tm{};
      gmtime_r(&now_, &tm);
      mid = s_.long_queue_ids
                ? fmt::format("<{}@{}>", id_, s_.myhostname)
                : fmt::format("<{:04}{:02}{:02}{:02}{:02}{:02}.{}@{}>", tm.tm_year + 1900,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, id_,
                              s_.myhostname);
      write_text(fmt::format("{}Message-Id: {}", p, mid));
    }
    if (!(have_resent_ ? have_resent_date_ : have_date_))
      write_text(fmt::format("{}Date: {}", p, mail_date(arrival_sec_ ? arrival_sec_ : now_)));
    if (!(have_resent_ ? have_resent_from_ : have_from_)) {
      std::string from = sender_.empty() ? "MAILER-DAEMON" : sender_;
      if (fullname_seen_ && !fullname_.empty() && !sender_.empty())
        from = s_.header_from_standard ? fmt::format("{} <{}>", display_name(fullname_), from)
                                       : fmt::format("{} ({})", from, fullname_);
      write_text(fmt::format("{}From: {}", p, from));
    }
    if (!have_rcpt_header_ && !have_resent_ && !s_.undisclosed_recipients_header.empty())
      write_text(s_.undisclosed_recipients_header);
  }
  log::info("{}: message-id={}", id_, message_id_.empty() ? "<>" : message_id_);
  if (!resent_message_id_.empty())
    log::info("{}: resent-message-id={}", id_, resent_message_id_);
}

void Message::on_body(std::string_view line, bool complete) {
  if ((flags_ & kCleanupFlagFilter) && !t_.body_checks.empty() &&
      body_bytes_ < s_.body_checks_size_limit) {
    Action a = check(t_.body_checks, line);
    body_bytes_ += static_cast<long long>(line.size()) + 1;
    if (!apply(a, "body", line)) return;
  }
  if (rejected_) return;
  if (complete) w_.content_line(line, s_.line_length_limit);
  else w_.record(rec::kCont, line);
}

// --------------------------------------------------------------- extracted

void Message::extracted_record(int type, std::string_view data) {
  switch (type) {
    case rec::kOrigRecipient:
      pending_orig_ = std::string(data);
      return;
    case rec::kAttr: {
      size_t eq = data.find('=');
      std::string_view name = data.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? "" : data.substr(eq + 1);
      if (name == "dsn_orig_rcpt") { pending_dsn_orcpt_ = std::string(value); return; }
      if (name == "notify_flags") { pending_notify_ = parse_long(value).value_or(0); return; }
      if (!rejected_) w_.record(type, data);
      return;
    }
    case rec::kRecipient:
      add_recipient(std::string(data), pending_orig_, pending_dsn_orcpt_, pending_notify_, true);
      pending_orig_.reset();
      pending_dsn_orcpt_.reset();
      pending_notify_ = 0;
      return;
    case rec::kEnd:
      finish();
      return;
    case rec::kDone:
    case rec::kCanceled:
      return;
    default:
      if (rec::kExtractedTypes.find(static_cast<char>(type)) == std::string_view::npos)
        return protocol_error(fmt::format("unexpected record type {} in extracted segment", type));
      if (!rejected_) w_.record(type, data);
  }
}

void Message::finish() {
  if (flags_ & kCleanupFlagBccOk) {
    if (!s_.always_bcc.empty())
      add_recipient(s_.always_bcc, std::nullopt, std::nullopt, 0, false);
  }
  for (const auto& b : bcc_actions_) add_recipient(b, std::nullopt, std::nullopt, 0, false);
  if (!rejected_) {
    if (!filter_.empty()) w_.record(rec::kFilter, filter_);
    if (!redirect_.empty()) w_.record(rec::kRedirect, redirect_);
  }
  if (!too_big_ && s_.message_size_limit > 0 && w_.offset() > s_.message_size_limit)
    too_big_ = true;
  if (too_big_ && !rejected_) {
    log::warn("{}: queue file size limit exceeded", id_);
    status_ |= kCleanupStatSize;
  }
  if (hops_ == 0 && status_ == 0) {
    // Every front end (smtpd, pickup, bounce) prepends its own Received:.
    log::warn("{}: message rejected: no Received: header", id_);
    status_ |= kCleanupStatBad;
  }
  if (rcpt_count_ == 0 && status_ == 0) status_ |= kCleanupStatRcpt;
  if (!rejected_) w_.end();
  finished_ = true;
  segment_ = Segment::kDone;
}

}  // namespace postern::cleanup
