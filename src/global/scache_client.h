// Client of the connection cache service scache (private/scache), which
// keeps open SMTP/LMTP sessions between deliveries so that the next
// delivery to the same place can reuse one (Postfix's scache(8) model):
//
//   endpoint  a server address ("smtp:127.0.0.1:25"): its label names one
//             or more cached sessions (descriptors) with an endpoint
//             property string (the client's session state);
//   destination  a next hop ("smtp:example.com"): its label names the
//             endpoint most recently used for it, with a destination
//             property string.
//
// Requests (attribute lists, request=...):
//   save_endp ttl label property + descriptor      -> status
//   find_endp label                                -> status property [+ descriptor]
//   save_dest ttl label property endp_label        -> status
//   find_dest label                                -> status property endp_property
//                                                     [+ descriptor]
// status 0 = done/found, -1 = not found or refused.
//
// Framing (see docs/scache.md): every message is a 4-byte big-endian
// length sent with sendmsg(), carrying the descriptor (SCM_RIGHTS) when
// there is one, then that many bytes of a NUL-encoded attribute list.
// Request and reply strictly alternate, so a reader never buffers past a
// message and never swallows a descriptor. This differs from Postfix's
// wire format: only Postern's own programs talk to this service.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "global/attr.h"
#include "util/error.h"
#include "util/stream.h"
#include "util/unique_fd.h"

namespace postern {

class Config;

inline constexpr size_t kScacheMaxFrame = 65536;

struct ScacheFrame {
  AttrList attrs;
  UniqueFd fd;  // invalid when the message carried none
};

// Sends one message (with `fd` attached when fd >= 0).
Status scache_write_frame(int sock, const AttrList& attrs, int fd = -1);
// Reads one message before `deadline`. kEof when the peer closed first.
Result<ScacheFrame> scache_read_frame(int sock, Deadline deadline);

class ScacheClient {
 public:
  explicit ScacheClient(std::string socket_path,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // $queue_directory/private/$connection_cache_service_name, timeout
  // $connection_cache_protocol_timeout.
  static ScacheClient from_config(const Config& cfg);

  struct Endpoint {
    std::string endp_prop;
    UniqueFd fd;
  };
  struct Destination {
    std::string dest_prop;
    std::string endp_prop;
    UniqueFd fd;
  };

  // Hands a session to the cache for at most `ttl` seconds (the service
  // caps it at connection_cache_ttl_limit). The caller closes its copy.
  Status save_endp(int ttl, std::string_view endp_label, std::string_view endp_prop, int fd);
  // A cached session for this endpoint (removed from the cache), or none.
  Result<std::optional<Endpoint>> find_endp(std::string_view endp_label);
  // Remembers that `dest_label` was last served by `endp_label`.
  Status save_dest(int ttl, std::string_view dest_label, std::string_view dest_prop,
                   std::string_view endp_label);
  // A cached session for a destination (through its endpoint), or none.
  Result<std::optional<Destination>> find_dest(std::string_view dest_label);

  void close() { sock_.reset(); }

 private:
  // One round trip; a broken connection is reopened once.
  Result<ScacheFrame> call(const AttrList& request, int fd = -1);

  std::string path_;
  std::chrono::milliseconds timeout_;
  UniqueFd sock_;
};

}  // namespace postern
