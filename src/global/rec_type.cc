#include "global/rec_type.h"

namespace postern::rec {

std::string_view type_name(int type) {
  switch (type) {
    case kSize: return "message_size";
    case kTime: return "message_arrival_time";
    case kCreateTime: return "queue_file_create_time";
    case kFullName: return "sender_fullname";
    case kInspect: return "content_inspector";
    case kFilter: return "content_filter";
    case kSender: return "sender";
    case kRecipient: return "recipient";
    case kDone: return "done_recipient";
    case kCanceled: return "canceled_recipient";
    case kOrigRecipient: return "original_recipient";
    case kWarn: return "warning_message_time";
    case kAttr: return "named_attribute";
    case kKill: return "killed_record";
    case kRedirect: return "redirect_to";
    case kVerp: return "verp_delimiters";
    case kDsnRet: return "dsn_return_flags";
    case kDsnEnvid: return "dsn_envelope_id";
    case kDsnOrcpt: return "dsn_original_recipient";
    case kDsnNotify: return "dsn_notify_flags";
    case kFlags: return "flags";
    case kMessage: return "message_content";
    case kNorm: return "regular_text";
    case kPointer: return "pointer_record";
    case kPadding: return "padding";
    case kExtracted: return "extracted_info";
    case kReturnReceipt: return "return_receipt";
    case kErrorsTo: return "errors_to";
    case kPriority: return "priority";
    case kEnd: return "message_end";
    default: return "unknown_record_type";
  }
}

}  // namespace postern::rec
