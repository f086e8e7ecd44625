// An incremental reader of message content that tells headers from body,
// follows MIME structure, and reports what it saw, as cleanup(8) needs for
// header_checks, mime_header_checks, nested_header_checks and body_checks.
//
// Lines are fed in order, without their line ending. Every line comes back
// out exactly once, either inside a header (a header with its continuation
// lines, joined by "\n") or as a body line, so a caller that writes what it
// is given reproduces the message. Header classes:
//   kPrimary    the message headers
//   kMultipart  headers of a part of a multipart body
//   kNested     headers of an attached message (message/rfc822)
// Limits: a header longer than header_size_limit is cut (the rest of it is
// dropped and kErrTruncatedHeader set); multipart nesting deeper than
// mime_nesting_limit stops MIME processing (kErrNesting); a boundary longer
// than mime_boundary_length_limit is ignored. Malformed input never fails.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace postern {

enum class HeaderClass { kPrimary, kMultipart, kNested };

struct MimeLimits {
  size_t header_size_limit = 102400;
  int nesting_limit = 100;
  size_t boundary_length_limit = 2048;
  bool mime_processing = true;  // false: only primary headers, then body
};

inline constexpr int kErrNesting = 1;
inline constexpr int kErrTruncatedHeader = 2;
inline constexpr int k8BitIn7BitBody = 4;  // 8-bit data where the encoding says 7bit
inline constexpr int kEncodingDomain = 8;  // composite type with an encoding other than 7bit/8bit/binary

struct MimeCallbacks {
  // A complete header, continuation lines joined by "\n".
  std::function<void(HeaderClass cls, std::string_view header)> header;
  // The end of a header block (before its empty line or first body line).
  std::function<void(HeaderClass cls)> header_end;
  // A body line (including boundary lines and the empty lines after header
  // blocks). `complete` is false for a piece of an over-long line.
  std::function<void(std::string_view line, bool complete)> body;
};

class MimeState {
 public:
  MimeState(MimeCallbacks callbacks, MimeLimits limits = {});

  // One line (or a piece of an over-long line when complete is false).
  void feed(std::string_view line, bool complete = true);
  // End of message: flushes a pending header.
  void finish();

  int errors() const { return errors_; }
  bool saw_8bit() const { return saw_8bit_; }           // any byte >= 0x80 in content
  bool in_primary_headers() const { return state_ == State::kHeaders && stack_.empty() && header_class_ == HeaderClass::kPrimary; }

 private:
  enum class State { kHeaders, kBody };
  struct Multipart {
    std::string boundary;
  };
  // Content-Type seen in the current header block.
  struct PartInfo {
    bool multipart = false;
    bool message_rfc822 = false;
    std::string boundary;
    std::string encoding;  // Content-Transfer-Encoding, lower case
  };

  void flush_header();
  void end_headers();
  void inspect_header(std::string_view header);
  void body_line(std::string_view line, bool complete);
  static bool is_header_start(std::string_view line);

  MimeCallbacks cb_;
  MimeLimits limits_;
  State state_ = State::kHeaders;
  HeaderClass header_class_ = HeaderClass::kPrimary;
  std::string pending_;         // header being collected
  bool pending_truncated_ = false;
  bool line_continues_ = false; // previous piece was not a complete line
  PartInfo part_;               // of the current header block
  std::string body_encoding_;   // of the current body
  std::vector<Multipart> stack_;
  bool nested_next_ = false;    // the next part body starts with headers
  int errors_ = 0;
  bool saw_8bit_ = false;
};

// Parameter `name` of a structured header value ("multipart/mixed;
// boundary=\"x\"" -> "x"); empty when absent.
std::string header_parameter(std::string_view value, std::string_view name);

}  // namespace postern
