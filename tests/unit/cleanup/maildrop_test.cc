// The maildrop helpers shared by sendmail, postdrop and pickup.
#include "postdrop/maildrop.h"

#include <gtest/gtest.h>

#include "global/rec_type.h"

namespace postern::submit {
namespace {

TEST(Maildrop, SubmissionRecordsPassTheValidator) {
  Submission m;
  m.fullname = "Joe";
  m.sender = "joe";
  m.recipients = {"ann@example.com"};
  m.notify_flags = 6;
  m.lines = {"Subject: x", "", std::string(3000, 'y')};
  m.extracted = {"bob@example.com"};
  auto recs = submission_records(m);
  MaildropValidator v(false);
  for (const auto& r : recs) ASSERT_TRUE(v.accept(r.type)) << r.type;
  EXPECT_TRUE(v.done());
  EXPECT_EQ(recs.front().type, rec::kFullName);
  EXPECT_EQ(recs.back().type, rec::kEnd);
  EXPECT_EQ(records_sender(recs), "joe");
  int pieces = 0;
  for (const auto& r : recs) pieces += r.type == rec::kCont;
  EXPECT_EQ(pieces, 1);
}

TEST(Maildrop, ValidatorRefusesWhatPostdropRefuses) {
  MaildropValidator with_time(true);
  EXPECT_FALSE(with_time.accept(rec::kSender));  // must start with T
  MaildropValidator v(false);
  EXPECT_FALSE(v.accept(rec::kSize));            // no C from users
  MaildropValidator v2(false);
  EXPECT_FALSE(v2.accept(rec::kMessage));        // no sender yet
  MaildropValidator v3(false);
  ASSERT_TRUE(v3.accept(rec::kSender));
  ASSERT_TRUE(v3.accept(rec::kMessage));
  EXPECT_FALSE(v3.accept(rec::kRecipient));      // R in content
  MaildropValidator v4(false);
  for (int t : {rec::kSender, rec::kMessage, rec::kNorm, rec::kExtracted, rec::kEnd})
    ASSERT_TRUE(v4.accept(t));
  EXPECT_FALSE(v4.accept(rec::kNorm));           // after E
}

TEST(Maildrop, ExtractsRecipientsLikeSendmailMinusT) {
  std::vector<std::string> lines{"From: me@example.com", "To: Ann <ann@example.com>,",
                                 "  bob@example.com", "Cc: carol@example.com",
                                 "Bcc: dave@example.com", "Subject: To: nobody@example.com", "",
                                 "To: body@example.com"};
  EXPECT_EQ(extract_recipients(lines),
            (std::vector<std::string>{"ann@example.com", "bob@example.com", "carol@example.com",
                                      "dave@example.com"}));
  std::vector<std::string> resent{"To: old@example.com", "Resent-To: new@example.com", "", "b"};
  EXPECT_EQ(extract_recipients(resent), std::vector<std::string>{"new@example.com"});
}

}  // namespace
}  // namespace postern::submit
