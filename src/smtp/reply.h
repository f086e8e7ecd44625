// SMTP/LMTP server replies: reading them with limits and a deadline for the
// whole reply, and the texts Postfix's client makes of them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/stream.h"

namespace postern::smtp {

struct Reply {
  int code = 0;                    // 250, 550, ...
  std::string dsn;                 // enhanced status code ("5.1.1"), always set
  std::vector<std::string> lines;  // each full line without CRLF ("250-SIZE 1000")
  // The lines joined by a space, as Postfix's logs show a reply.
  std::string text() const;
  int klass() const { return code / 100; }
};

struct ReplyLimits {
  size_t line_length = 2048;  // longer lines are truncated (the rest is read and dropped)
  size_t max_lines = 1000;    // a reply with more lines is an error
  size_t max_bytes = 256 * 1024;
};

// Parses a complete reply from its lines (no CRLF): checks each line has
// three digits and ' ' or '-' (or ends after the digits), the same code in
// every line, and derives the enhanced status code: the one at the start
// of the first line's text when it is valid (its class forced to the
// reply's), else "<class>.0.0". kInvalid for a malformed reply.
Result<Reply> parse_reply(const std::vector<std::string>& lines);

// Reads one reply before `deadline` (for the whole reply, not per read).
// kTimeout, kEof (connection lost), kInvalid (malformed, or over the
// limits: the text says which and quotes the start of the line).
Result<Reply> read_reply(Stream& stream, Deadline deadline, const ReplyLimits& limits = {});

// The enhanced status code for a reply code when the reply has none.
std::string default_dsn(int code);

// Dot-stuffing and line ending of one message line for DATA.
void append_data_line(std::string& out, std::string_view line);

}  // namespace postern::smtp
