// Client of the address verification service (private/verify, src/verify),
// Postfix's verify_clnt protocol (attribute protocol, NUL encoding):
//   verify -> protocol=address_verification_prrotocol   (sic, as Postfix)
//   query:  request=query, address=A
//        <- status=0|-1|-2, recipient_status=0..3, reason=T
//   update: request=update, address=A, recipient_status=N, reason=T
//        <- status=0|-1|-2
// status is the request's fate (0 ok, -1 failed, -2 bad request);
// recipient_status is the address's (kVerifyOk .. kVerifyTodo).
// One connection per request: verify is a single process, so no client
// may keep it busy.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/error.h"

namespace postern {

class Config;

inline constexpr std::string_view kVerifyProtocol = "address_verification_prrotocol";

// Per-address status (Postfix's DEL_RCPT_STAT_*).
inline constexpr int kVerifyOk = 0;      // deliverable
inline constexpr int kVerifyDefer = 1;   // temporary failure
inline constexpr int kVerifyBounce = 2;  // undeliverable
inline constexpr int kVerifyTodo = 3;    // probe in progress, no answer yet

// Request status.
inline constexpr int kVerifyStatOk = 0;
inline constexpr int kVerifyStatFail = -1;
inline constexpr int kVerifyStatBad = -2;

struct VerifyAnswer {
  int rcpt_status = kVerifyTodo;
  std::string reason;
};

// queue_dir/private/<name> ("verify" when empty), or the relative
// "private/<name>" inside a chroot jail.
std::string verify_socket_path(const std::string& queue_dir, std::string name);

class VerifyClient {
 public:
  explicit VerifyClient(std::string socket_path,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // $queue_directory/private/$address_verify_service_name.
  static VerifyClient from_config(const Config& cfg);

  // What the service knows of `address` (it may send a probe meanwhile).
  Result<VerifyAnswer> query(std::string_view address);
  // Records a probe's result for `address`.
  Status update(std::string_view address, int rcpt_status, std::string_view reason);

  const std::string& socket_path() const { return path_; }

 private:
  std::string path_;
  std::chrono::milliseconds timeout_;
};

}  // namespace postern
