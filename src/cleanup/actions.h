// Actions of header_checks, mime_header_checks, nested_header_checks and
// body_checks (header_checks(5)): the table value for a matched line is
// parsed into an Action that cleanup applies.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::cleanup {

enum class ActionKind {
  kDunno,    // DUNNO, OK: nothing
  kReject,   // REJECT [text]
  kWarn,     // WARN [text]: log only
  kInfo,     // INFO [text]: log only
  kHold,     // HOLD [text]: the message goes to hold/
  kDiscard,  // DISCARD [text]: accepted and thrown away
  kIgnore,   // IGNORE: this line is removed
  kPrepend,  // PREPEND text: a line inserted before this one
  kReplace,  // REPLACE text: this line replaced
  kRedirect, // REDIRECT addr: all recipients replaced by addr
  kFilter,   // FILTER transport:destination: content filter
  kBcc,      // BCC addr: one more recipient
};

struct Action {
  ActionKind kind = ActionKind::kDunno;
  std::string text;  // the rest of the value, trimmed
};

// Parses a table value ("REJECT go away"). The action word is
// case-insensitive. nullopt (with *error set) for an unknown action or a
// missing required argument (PREPEND, REPLACE, REDIRECT, FILTER, BCC).
std::optional<Action> parse_action(std::string_view value, std::string* error);

// The lower-case word cleanup logs for an action ("reject", "warning",
// "hold", ...).
std::string_view action_log_word(ActionKind kind);

// The reply and log text for REJECT: "5.7.1 text" (a given "4.x.x"/"5.x.x"
// code is kept), or "5.7.1 message content rejected" when text is empty.
std::string reject_reason(std::string_view text);

}  // namespace postern::cleanup
