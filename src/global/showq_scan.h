// Reading the mail queues for a listing (the showq service, and
// postqueue when the mail system is down and root reads the queue itself).
#pragma once

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "global/mail_queue.h"
#include "global/showq_format.h"
#include "util/error.h"

namespace postern {

// The queues a listing shows, in the order showq reports them.
inline constexpr std::array<std::string_view, 5> kShowqQueues = {
    "maildrop", "active", "incoming", "deferred", "hold"};

// Recipient -> reason from a defer (or bounce) log in Postfix's format: a
// blank line, an optional legacy "<rcpt>: text" line, then name=value
// lines (recipient=, reason=, ...) per recipient. Later entries for the
// same recipient do not replace earlier ones.
std::map<std::string, std::string> parse_defer_log(std::string_view text);

// One queue file as a listing entry; nullopt when the file is gone, still
// being written (owner bits not rwx) or unreadable (logged as a warning).
std::optional<ShowqMessage> showq_read_message(const MailQueue& queue, std::string_view queue_name,
                                               const std::string& id);

// Visits every message in kShowqQueues; stops when `visit` returns false.
void showq_scan(const MailQueue& queue, const std::function<bool(const ShowqMessage&)>& visit);

}  // namespace postern
