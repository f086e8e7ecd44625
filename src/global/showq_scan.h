// Reading the mail queues for a listing (the showq service, and
// postqueue when the mail system is down and root reads the queue itself).
#pragma once

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "global/mail_queue.h"
#include "global/showq_format.h"
#include "util/error.h"

namespace postern {

// The queues a listing shows, in the order showq reports them.
inline constexpr std::array<std::string_view, 5> kShowqQueues = {
    "maildrop", "active", "incoming", "deferred", "hold"};

// (recipient, reason) pairs from a defer (or bounce) log in Postfix's
// format, in log order: a blank line, an optional legacy "<rcpt>: text"
// line, then name=value lines (recipient=, reason=, ...) per recipient.
// A recipient listed again is skipped (the first entry counts).
std::vector<std::pair<std::string, std::string>> parse_defer_log(std::string_view text);

// One queue file as a listing entry: like Postfix's showq, the recipients
// of the defer log come first, with their reasons, then the other pending
// recipients of the queue file; nullopt when the file is gone, still
// being written (owner bits not rwx) or unreadable (logged as a warning).
std::optional<ShowqMessage> showq_read_message(const MailQueue& queue, std::string_view queue_name,
                                               const std::string& id);

// Visits every message in kShowqQueues; stops when `visit` returns false.
void showq_scan(const MailQueue& queue, const std::function<bool(const ShowqMessage&)>& visit);

}  // namespace postern
