// Trigger clients: wake a service (pickup, qmgr, flush) by writing a few
// bytes to its socket or FIFO and closing (COMPAT.md section 5).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/error.h"

namespace postern {

// Request codes understood by trigger services.
inline constexpr char kTriggerWakeup = 'W';        // any trigger service
inline constexpr char kTriggerScanIncoming = 'I';  // qmgr
inline constexpr char kTriggerScanDeferred = 'D';  // qmgr
inline constexpr char kTriggerScanAll = 'A';       // qmgr: ignore time stamps
inline constexpr char kTriggerFlushDead = 'F';     // qmgr: forget dead destinations

// Writes `data` to the UNIX stream socket at `path` and closes, waiting at
// most `timeout` for the connection.
Status trigger_unix(const std::string& path, std::string_view data,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
// Writes `data` to the FIFO at `path` without blocking.
Status trigger_fifo(const std::string& path, std::string_view data);
// Triggers service `name` of class "public" or "private" under
// `queue_dir`, as a FIFO when the path is one, else as a UNIX socket.
Status mail_trigger(const std::string& queue_dir, std::string_view service_class,
                    std::string_view name, std::string_view data);

}  // namespace postern
