#include "global/deliver_request.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

DeliverRequest sample() {
  DeliverRequest r;
  r.queue_name = "active";
  r.queue_id = "4ABCDE123";
  r.data_offset = 612;
  r.data_size = 345;
  r.nexthop = "demo.test";
  r.sender = "alice@example.com";
  r.arrival_us = 1700000000123456;
  r.active_us = 1700000001000000;
  r.handoff_us = 1700000001500000;
  r.transport = "virtual";
  r.rewrite_context = "local";
  r.recipients.push_back({"Bob@demo.test", "bob@demo.test", 300, "rfc822;Bob@demo.test", 8});
  r.recipients.push_back({"", "carol@demo.test", 400, "", 0});
  return r;
}

TEST(DeliverRequest, RoundTripThroughBothEncodings) {
  for (auto enc : {AttrEncoding::kNul, AttrEncoding::kPlain}) {
    DeliverRequest in = sample();
    auto bytes = attr_encode(enc, in.to_attrs());
    auto list = attr_decode(bytes, enc);
    ASSERT_TRUE(list) << list.error().text;
    auto out = DeliverRequest::from_attrs(*list);
    ASSERT_TRUE(out) << out.error().text;
    EXPECT_EQ(out->queue_id, "4ABCDE123");
    EXPECT_EQ(out->data_offset, 612);
    EXPECT_EQ(out->data_size, 345);
    EXPECT_EQ(out->sender, "alice@example.com");
    EXPECT_EQ(out->arrival_us, 1700000000123456);
    EXPECT_EQ(out->handoff_us, 1700000001500000);
    EXPECT_EQ(out->transport, "virtual");
    ASSERT_EQ(out->recipients.size(), 2u);
    EXPECT_EQ(out->recipients[0].orig, "Bob@demo.test");
    EXPECT_EQ(out->recipients[0].address, "bob@demo.test");
    EXPECT_EQ(out->recipients[0].offset, 300);
    EXPECT_EQ(out->recipients[0].dsn_orcpt, "rfc822;Bob@demo.test");
    EXPECT_EQ(out->recipients[0].notify_flags, 8);
    EXPECT_EQ(out->recipients[1].address, "carol@demo.test");
    EXPECT_EQ(out->recipients[1].orig, "");
  }
}

TEST(DeliverRequest, RejectsMissingAndMalformedAttributes) {
  auto list = sample().to_attrs();
  AttrList cut;
  for (size_t i = 0; i + 3 < list.items().size(); ++i)
    cut.add(list.items()[i].first, list.items()[i].second);
  auto r = DeliverRequest::from_attrs(cut);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().text.find("missing attribute"), std::string::npos) << r.error().text;

  AttrList bad;
  for (auto [n, v] : list.items()) bad.add(n, n == "size" ? "12x" : v);
  auto b = DeliverRequest::from_attrs(bad);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().text.find("bad size value"), std::string::npos) << b.error().text;

  DeliverRequest none = sample();
  none.recipients.clear();
  EXPECT_FALSE(DeliverRequest::from_attrs(none.to_attrs()));
}

TEST(DeliverReply, RoundTrip) {
  DeliverReply in;
  in.status = 1;
  in.outcomes = {{300, RcptOutcome::kSent}, {400, RcptOutcome::kDeferred}, {500, RcptOutcome::kBounced}};
  in.dsn_status = "4.4.1";
  in.reason = "connection refused";
  auto list = attr_decode(attr_encode(AttrEncoding::kNul, in.to_attrs()), AttrEncoding::kNul);
  ASSERT_TRUE(list);
  auto out = DeliverReply::from_attrs(*list);
  ASSERT_TRUE(out) << out.error().text;
  EXPECT_EQ(out->status, 1);
  ASSERT_EQ(out->outcomes.size(), 3u);
  EXPECT_EQ(out->outcomes[1].first, 400);
  EXPECT_EQ(out->outcomes[1].second, RcptOutcome::kDeferred);
  EXPECT_EQ(out->outcomes[2].second, RcptOutcome::kBounced);
  EXPECT_EQ(out->dsn_status, "4.4.1");
  EXPECT_EQ(out->reason, "connection refused");

  AttrList bad{{"status", "0"}, {"rcpt_status", "300:Q"}};
  EXPECT_FALSE(DeliverReply::from_attrs(bad));
  EXPECT_FALSE(DeliverReply::from_attrs(AttrList{{"rcpt_status", "1:S"}}));
}

}  // namespace
}  // namespace postern
