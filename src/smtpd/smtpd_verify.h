// reject_unverified_recipient and reject_unverified_sender: smtpd asks the
// verify service (global/verify_client.h) about the address, polling
// $address_verify_poll_count times $address_verify_poll_delay apart while
// the answer is "in progress", and replies as Postfix does:
//   in progress / deferred  -> $unverified_*_defer_code (450)
//       "<a>: Recipient address rejected: unverified address: <why>"
//   undeliverable           -> $unverified_*_reject_code (450 by default)
//       "<a>: Recipient address rejected: undeliverable address: <why>"
//   verify service failure  -> 450 "...: address verification problem"
// The DSN is 4.1.1 (recipient) or 4.1.7 (sender), its class following the
// code; $unverified_*_reject_reason replaces <why> when set. 2xx codes
// accept. $unverified_*_tempfail_action is applied as an immediate defer
// (Postern has no deferred defer_if_permit; see docs/verify.md).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "global/verify_client.h"
#include "smtpd/smtpd_check.h"

namespace postern::smtpd {

struct UnverifiedSettings {
  int defer_code = 450;
  int reject_code = 450;
  std::string reason;  // unverified_*_reject_reason
};

UnverifiedSettings unverified_settings(const Config& cfg, bool sender);

// The reply for one answer of the verify service (nullopt: go on).
std::optional<Reply> unverified_reply(const UnverifiedSettings& s, bool sender,
                                      std::string_view address,
                                      const Result<VerifyAnswer>& answer);

using VerifyQuery = std::function<Result<VerifyAnswer>(std::string_view address)>;
// Replaces the verify service (tests); an empty function restores it.
void set_verify_query(VerifyQuery query);

// The whole restriction: query (with polling), then unverified_reply().
std::optional<Reply> check_unverified(const Config& cfg, bool sender, std::string_view address);

}  // namespace postern::smtpd
