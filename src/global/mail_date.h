// Dates as mail headers write them (RFC 5322): "Mon, 23 Nov 2026 07:10:02 +0000 (UTC)".
#pragma once

#include <ctime>
#include <string>

namespace postern {

// The local time with numeric zone and, like Postfix, the zone name in a comment.
std::string mail_date(std::time_t when);

}  // namespace postern
