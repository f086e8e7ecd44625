// Client of trivial-rewrite (private/rewrite): canonical rewriting of an
// address and resolution to transport, next hop and address class.
// One connection is kept open and re-made after a failure; the most recent
// answer of each kind is remembered, as callers often ask twice.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "global/attr.h"
#include "global/resolve_reply.h"
#include "util/error.h"
#include "util/stream.h"

namespace postern {

class Config;

class RewriteClient {
 public:
  RewriteClient(std::string socket_path, std::chrono::seconds timeout);
  // private/$rewrite_service_name under queue_directory, $ipc_timeout.
  static RewriteClient from_config(const Config& cfg);

  // rule is "local" or "remote". kTemporary when the service is unreachable.
  Result<std::string> rewrite(std::string_view rule, std::string_view address);
  // `request` is "resolve" or "verify".
  Result<ResolveReply> resolve(std::string_view sender, std::string_view address,
                               std::string_view request = "resolve");

 private:
  // Forgets the remembered answers unless the connection they came over is
  // still open (the last answer is reused, as in Postfix's clients).
  void drop_cache_if_server_left();
  // Sends one request, reconnecting once if the kept connection broke.
  Result<AttrList> round_trip(const AttrList& request);

  std::string socket_path_;
  std::chrono::seconds timeout_;
  std::optional<Stream> stream_;
  struct Cached {
    std::string key;
    std::string rewritten;
    ResolveReply resolved;
  };
  std::optional<Cached> last_rewrite_, last_resolve_;
};

}  // namespace postern
