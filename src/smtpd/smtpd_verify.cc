#include "smtpd/smtpd_verify.h"

#include <unistd.h>

#include <fmt/format.h>

#include "global/config.h"
#include "util/log.h"

namespace postern::smtpd {

namespace {

VerifyQuery& query_hook() {
  static VerifyQuery q;
  return q;
}

std::string with_class(int code, std::string_view dsn) {
  std::string d(dsn);
  if (code / 100 == 4 || code / 100 == 5) d[0] = static_cast<char>('0' + code / 100);
  return d;
}

}  // namespace

UnverifiedSettings unverified_settings(const Config& cfg, bool sender) {
  std::string p = sender ? "unverified_sender_" : "unverified_recipient_";
  UnverifiedSettings s;
  s.defer_code = static_cast<int>(cfg.get_int(p + "defer_code"));
  s.reject_code = static_cast<int>(cfg.get_int(p + "reject_code"));
  s.reason = cfg.get(p + "reject_reason");
  return s;
}

std::optional<Reply> unverified_reply(const UnverifiedSettings& s, bool sender,
                                      std::string_view address,
                                      const Result<VerifyAnswer>& answer) {
  std::string_view klass = sender ? "Sender address" : "Recipient address";
  std::string_view dsn = sender ? "4.1.7" : "4.1.1";
  if (!answer)
    return Reply{450, std::string(dsn),
                 fmt::format("<{}>: {} rejected: address verification problem", address, klass)};
  int code = 0;
  switch (answer->rcpt_status) {
    case kVerifyTodo:
    case kVerifyDefer: code = s.defer_code; break;
    case kVerifyBounce: code = s.reject_code; break;
    default: return std::nullopt;
  }
  std::string why = answer->reason;
  if (code >= 400 && !s.reason.empty()) why = s.reason;
  if (code / 100 == 2 || code == 0) return std::nullopt;
  if (code / 100 == 4)
    return Reply{code, with_class(code, dsn),
                 fmt::format("<{}>: {} rejected: unverified address: {}", address, klass,
                             why.substr(0, 250))};
  return Reply{code, with_class(code, dsn),
               fmt::format("<{}>: {} rejected: undeliverable address: {}", address, klass, why)};
}

void set_verify_query(VerifyQuery query) { query_hook() = std::move(query); }

std::optional<Reply> check_unverified(const Config& cfg, bool sender, std::string_view address) {
  VerifyQuery query = query_hook();
  if (!query) {
    query = [&cfg](std::string_view a) { return VerifyClient::from_config(cfg).query(a); };
  }
  auto count = cfg.int_value("address_verify_poll_count");
  long polls = count ? *count : 3;
  long delay = cfg.get_time("address_verify_poll_delay");
  Result<VerifyAnswer> answer = fail(Errc::kTemporary, "no query");
  for (long n = 0;;) {
    answer = query(address);
    if (!answer || answer->rcpt_status != kVerifyTodo) break;
    if (++n >= polls) break;
    if (delay > 0) ::sleep(static_cast<unsigned>(delay));
  }
  if (!answer) {
    std::string name = cfg.get("address_verify_service_name");
    log::warn("{} service failure", name.empty() ? "verify" : name);
  }
  return unverified_reply(unverified_settings(cfg, sender), sender, address, answer);
}

}  // namespace postern::smtpd
