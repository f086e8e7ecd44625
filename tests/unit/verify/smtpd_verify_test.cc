#include "smtpd/smtpd_verify.h"

#include <gtest/gtest.h>

using namespace postern;
using namespace postern::smtpd;

namespace {

Result<VerifyAnswer> answer(int status, std::string reason) {
  return VerifyAnswer{status, std::move(reason)};
}

}  // namespace

TEST(SmtpdVerify, InProgressDefersWithPostfixText) {
  UnverifiedSettings s;
  auto r = unverified_reply(s, false, "u@example.com",
                            answer(kVerifyTodo, "Address verification in progress"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->str(),
            "450 4.1.1 <u@example.com>: Recipient address rejected: unverified address: "
            "Address verification in progress");
}

TEST(SmtpdVerify, BouncedAddressUsesTheRejectCode) {
  UnverifiedSettings s;
  s.reject_code = 550;
  auto r = unverified_reply(s, false, "u@example.com", answer(kVerifyBounce, "unknown user: \"u\""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->str(),
            "550 5.1.1 <u@example.com>: Recipient address rejected: undeliverable address: "
            "unknown user: \"u\"");
  // Postfix's default reject code is 450: the DSN class follows it.
  s.reject_code = 450;
  r = unverified_reply(s, false, "u@example.com", answer(kVerifyBounce, "no"));
  EXPECT_EQ(r->str(),
            "450 4.1.1 <u@example.com>: Recipient address rejected: unverified address: no");
}

TEST(SmtpdVerify, SenderRepliesUse417) {
  UnverifiedSettings s;
  s.reject_code = 550;
  auto r = unverified_reply(s, true, "s@x", answer(kVerifyDefer, "connection refused"));
  EXPECT_EQ(r->str(), "450 4.1.7 <s@x>: Sender address rejected: unverified address: connection refused");
  r = unverified_reply(s, true, "s@x", answer(kVerifyBounce, "no such user"));
  EXPECT_EQ(r->str(), "550 5.1.7 <s@x>: Sender address rejected: undeliverable address: no such user");
}

TEST(SmtpdVerify, DeliverableAndTwoHundredCodesPass) {
  UnverifiedSettings s;
  EXPECT_FALSE(unverified_reply(s, false, "u@x", answer(kVerifyOk, "delivers to mailbox")));
  s.defer_code = 250;
  EXPECT_FALSE(unverified_reply(s, false, "u@x", answer(kVerifyTodo, "in progress")));
}

TEST(SmtpdVerify, RejectReasonReplacesTheDetails) {
  UnverifiedSettings s;
  s.reject_code = 550;
  s.reason = "Address lookup failure";
  auto r = unverified_reply(s, false, "u@x", answer(kVerifyBounce, "secret detail"));
  EXPECT_EQ(r->str(), "550 5.1.1 <u@x>: Recipient address rejected: undeliverable address: Address lookup failure");
}

TEST(SmtpdVerify, ServiceFailureIsAVerificationProblem) {
  UnverifiedSettings s;
  Result<VerifyAnswer> down = fail(Errc::kTemporary, "connect: refused");
  auto r = unverified_reply(s, false, "u@x", down);
  EXPECT_EQ(r->str(), "450 4.1.1 <u@x>: Recipient address rejected: address verification problem");
}
