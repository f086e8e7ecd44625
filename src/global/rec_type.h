// Record type codes of Postfix's queue file format (COMPAT.md section 4),
// and the names postcat shows for them.
#pragma once

#include <string_view>

namespace postern::rec {

// Envelope segment.
inline constexpr char kSize = 'C';          // message_size: six %15ld fields
inline constexpr char kTime = 'T';          // message_arrival_time: "sec usec"
inline constexpr char kCreateTime = 'c';    // queue_file_create_time (legacy)
inline constexpr char kFullName = 'F';      // sender_fullname
inline constexpr char kInspect = 'I';       // content_inspector
inline constexpr char kFilter = 'L';        // content_filter (envelope only)
inline constexpr char kSender = 'S';        // sender; empty = null sender
inline constexpr char kRecipient = 'R';     // recipient
inline constexpr char kDone = 'D';          // done_recipient (R rewritten in place)
inline constexpr char kCanceled = '/';      // canceled_recipient (R rewritten in place)
inline constexpr char kOrigRecipient = 'O'; // original_recipient, precedes its R
inline constexpr char kWarn = 'W';          // warning_message_time: %15ld
inline constexpr char kAttr = 'A';          // named_attribute: name=value
inline constexpr char kKill = 'K';          // killed_record
inline constexpr char kRedirect = '>';      // redirect_to
inline constexpr char kVerp = 'V';          // verp_delimiters
inline constexpr char kDsnRet = '<';        // dsn_return_flags
inline constexpr char kDsnEnvid = 'i';      // dsn_envelope_id
inline constexpr char kDsnOrcpt = 'o';      // dsn_original_recipient
inline constexpr char kDsnNotify = 'n';     // dsn_notify_flags
inline constexpr char kFlags = 'f';         // cleanup flags
inline constexpr char kDelay = 'd';         // cleanup-internal
inline constexpr char kMilterCount = 'm';   // cleanup-internal
inline constexpr char kMessage = 'M';       // start of content
// Content segment.
inline constexpr char kNorm = 'N';          // one line of text
inline constexpr char kCont = 'L';          // piece of an over-long line
inline constexpr char kPointer = 'p';       // %15ld offset of the next record to read
inline constexpr char kPadding = 'w';       // space kept for in-place edits
inline constexpr char kExtracted = 'X';     // start of the extracted segment
// Extracted segment.
inline constexpr char kReturnReceipt = 'r';
inline constexpr char kErrorsTo = 'e';
inline constexpr char kPriority = 'P';
inline constexpr char kEnd = 'E';           // required last record

// Types allowed in each segment; the first letter of the next segment's
// list is what ends a segment.
inline constexpr std::string_view kEnvelopeTypes = "MCTcFILSDRO/WVA>K<ion";
inline constexpr std::string_view kContentTypes = "XLNw";
inline constexpr std::string_view kExtractedTypes = "EDRO/PreAFIL>Kon";

// The name postcat prints for a record type ("unknown_record_type" when
// there is none). 'L' is "content_filter" here; inside message content
// postcat calls it unterminated_text.
std::string_view type_name(int type);

inline bool is_recipient_type(int type) {
  return type == kRecipient || type == kDone || type == kCanceled;
}

}  // namespace postern::rec
