// The message content for DATA: the queue file's content records joined
// into lines, converted to 7 bit when asked (mime_downgrade.h), broken at
// the line length limit with CRLF SPACE, dot-stuffed, ended with ".".
#pragma once

#include <sys/types.h>

#include "util/error.h"
#include "util/stream.h"

namespace postern::smtp {

// Writes to `stream` (flushing every 64 KB); a queue-file read error sets
// *local (the caller defers without blaming the server).
Status send_content(Stream& stream, int queue_fd, off_t data_offset, size_t line_length_limit,
                    bool downgrade, bool* local);

}  // namespace postern::smtp
