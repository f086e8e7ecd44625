// Connecting to a server: UNIX socket (LMTP) or TCP from
// smtp_bind_address / smtp_bind_address6, within the connect timeout.
#pragma once

#include "smtp/servers.h"
#include "smtp/settings.h"
#include "util/error.h"
#include "util/stream.h"
#include "util/unique_fd.h"

namespace postern::smtp {

// Errors carry the system's text ("Connection refused"); kTimeout reads
// "Connection timed out".
Result<UniqueFd> connect_server(const Server& srv, const Settings& s, Deadline deadline);

}  // namespace postern::smtp
