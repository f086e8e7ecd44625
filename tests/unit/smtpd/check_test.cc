#include <gtest/gtest.h>

#include "fakes.h"
#include "global/config.h"
#include "smtpd/smtpd_check.h"

using namespace postern;
using namespace postern::smtpd;
using postern::smtpd::testing::FakeLookups;

namespace {

struct Env {
  Config cfg;
  FakeLookups lookups;
  std::vector<std::string> logged;
  Env() {
    cfg.set_override("mynetworks", "192.0.2.0/24");
    cfg.set_override("relay_domains", "relay.example");
    cfg.set_override("smtpd_relay_restrictions",
                     "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination");
    lookups.classes["local.example"] = kResolveClassLocal;
    lookups.classes["relay.example"] = kResolveClassRelay;
    lookups.classes["localhost"] = kResolveClassLocal;
    lookups.classes["sub.blocked.example"] = kResolveClassVirtual;
    lookups.classes["other.blocked.example"] = kResolveClassVirtual;
  }
  Checker checker() {
    auto c = Checker::from_config(cfg, lookups);
    EXPECT_TRUE(c) << (c ? "" : c.error().text);
    return std::move(*c);
  }
  CheckState state(std::string addr = "198.51.100.7") {
    CheckState s;
    s.client_name = "client.example";
    s.client_addr = addr;
    s.helo = "client.example";
    s.sender = "s@sender.example";
    s.protocol = "ESMTP";
    s.log = [this](std::string_view a, std::string_view st, std::string_view t) {
      logged.push_back(std::string(a) + " " + std::string(st) + " " + std::string(t));
    };
    return s;
  }
  std::string rcpt(std::string to, std::string addr = "198.51.100.7") {
    Checker c = checker();
    CheckState s = state(addr);
    s.recipient = to;
    auto r = c.check(Stage::kRecipient, s);
    return r ? r->str() : "OK";
  }
};

}  // namespace

TEST(SmtpdCheck, RelayAccessIsDeniedForStrangers) {
  Env e;
  EXPECT_EQ(e.rcpt("x@elsewhere.example"), "554 5.7.1 <x@elsewhere.example>: Relay access denied");
  EXPECT_EQ(e.rcpt("x@local.example"), "OK");
  EXPECT_EQ(e.rcpt("x@relay.example"), "OK");
  // Routed addresses to a relay domain are not relayed.
  EXPECT_EQ(e.rcpt("x%y@relay.example").substr(0, 3), "554");
  // mynetworks may relay.
  EXPECT_EQ(e.rcpt("x@elsewhere.example", "192.0.2.9"), "OK");
  ASSERT_FALSE(e.logged.empty());
  EXPECT_EQ(e.logged[0], "reject RCPT 554 5.7.1 <x@elsewhere.example>: Relay access denied");
}

TEST(SmtpdCheck, DeferUnauthDestinationAndSoftBounce) {
  Env e;
  e.cfg.set_override("smtpd_relay_restrictions", "defer_unauth_destination");
  EXPECT_EQ(e.rcpt("x@elsewhere.example"), "454 4.7.1 <x@elsewhere.example>: Relay access denied");
  e.cfg.set_override("smtpd_relay_restrictions", "reject_unauth_destination");
  e.cfg.set_override("soft_bounce", "yes");
  EXPECT_EQ(e.rcpt("x@elsewhere.example"), "454 4.7.1 <x@elsewhere.example>: Relay access denied");
}

TEST(SmtpdCheck, AccessMapActions) {
  Env e;
  e.cfg.set_override("smtpd_recipient_restrictions", "check_recipient_access hash:/a");
  e.lookups.tables["hash:/a|r1@local.example"] = "REJECT";
  e.lookups.tables["hash:/a|r2@local.example"] = "REJECT go away";
  e.lookups.tables["hash:/a|r3@local.example"] = "550 no such";
  e.lookups.tables["hash:/a|r4@local.example"] = "450 4.2.0 later";
  e.lookups.tables["hash:/a|d1@local.example"] = "DEFER";
  e.lookups.tables["hash:/a|sub.blocked.example"] = "REJECT blocked";
  e.lookups.tables["hash:/a|blocked.example"] = "REJECT parent blocked";
  e.lookups.tables["hash:/a|user@"] = "554 5.7.2 user part";
  e.lookups.tables["hash:/a|ok@local.example"] = "OK";
  e.lookups.tables["hash:/a|cls@local.example"] = "reject_unauth_destination, reject";
  EXPECT_EQ(e.rcpt("r1@local.example"), "554 5.7.1 <r1@local.example>: Recipient address rejected: Access denied");
  EXPECT_EQ(e.rcpt("r2@local.example"), "554 5.7.1 <r2@local.example>: Recipient address rejected: go away");
  EXPECT_EQ(e.rcpt("r3@local.example"), "550 5.7.1 <r3@local.example>: Recipient address rejected: no such");
  EXPECT_EQ(e.rcpt("r4@local.example"), "450 4.2.0 <r4@local.example>: Recipient address rejected: later");
  EXPECT_EQ(e.rcpt("d1@local.example"), "450 4.7.1 <d1@local.example>: Recipient address rejected: Access denied");
  EXPECT_EQ(e.rcpt("x@sub.blocked.example"), "554 5.7.1 <x@sub.blocked.example>: Recipient address rejected: blocked");
  EXPECT_EQ(e.rcpt("x@other.blocked.example"),
            "554 5.7.1 <x@other.blocked.example>: Recipient address rejected: parent blocked");
  EXPECT_EQ(e.rcpt("user@local.example"), "554 5.7.2 <user@local.example>: Recipient address rejected: user part");
  EXPECT_EQ(e.rcpt("ok@local.example"), "OK");
  EXPECT_EQ(e.rcpt("cls@local.example"), "554 5.7.1 <cls@local.example>: Recipient address rejected: Access denied");
}

TEST(SmtpdCheck, HoldDiscardAndWarnAreRecorded) {
  Env e;
  e.cfg.set_override("smtpd_recipient_restrictions", "check_recipient_access hash:/a, reject");
  e.lookups.tables["hash:/a|h@local.example"] = "HOLD";
  e.lookups.tables["hash:/a|d@local.example"] = "DISCARD";
  Checker c = e.checker();
  CheckState s = e.state();
  s.recipient = "h@local.example";
  auto r = c.check(Stage::kRecipient, s);
  EXPECT_TRUE(s.hold);
  ASSERT_TRUE(r);  // HOLD does not stop the list: "reject" follows
  s.recipient = "d@local.example";
  EXPECT_FALSE(c.check(Stage::kRecipient, s));
  EXPECT_TRUE(s.discard);
  EXPECT_NE(std::find(e.logged.begin(), e.logged.end(),
                      "discard RCPT <d@local.example>: Recipient address triggers DISCARD action"),
            e.logged.end());
}

TEST(SmtpdCheck, DelayRejectRunsClientChecksAtRcpt) {
  Env e;
  e.cfg.set_override("smtpd_client_restrictions", "reject");
  Checker c = e.checker();
  CheckState s = e.state();
  EXPECT_FALSE(c.check(Stage::kClient, s));
  s.recipient = "x@local.example";
  auto r = c.check(Stage::kRecipient, s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->str(), "554 5.7.1 <client.example[198.51.100.7]>: Client host rejected: Access denied");
  e.cfg.set_override("smtpd_delay_reject", "no");
  Checker c2 = e.checker();
  EXPECT_TRUE(c2.check(Stage::kClient, s));
}

TEST(SmtpdCheck, PermitEndsOnlyItsOwnList) {
  Env e;
  e.cfg.set_override("smtpd_client_restrictions", "permit");
  e.cfg.set_override("smtpd_sender_restrictions", "reject");
  EXPECT_EQ(e.rcpt("x@local.example"),
            "554 5.7.1 <s@sender.example>: Sender address rejected: Access denied");
}

TEST(SmtpdCheck, HeloAndFqdnChecks) {
  Env e;
  e.cfg.set_override("smtpd_helo_restrictions",
                     "reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname");
  e.cfg.set_override("smtpd_sender_restrictions", "reject_non_fqdn_sender");
  e.cfg.set_override("smtpd_recipient_restrictions", "reject_non_fqdn_recipient");
  Checker c = e.checker();
  CheckState s = e.state();
  s.recipient = "x@local.example";
  s.helo = "bad_name!";
  EXPECT_EQ(c.check(Stage::kRecipient, s)->str(), "501 5.5.2 <bad_name!>: Helo command rejected: Invalid name");
  s.helo = "nodots";
  EXPECT_EQ(c.check(Stage::kRecipient, s)->str(),
            "504 5.5.2 <nodots>: Helo command rejected: need fully-qualified hostname");
  s.helo = "[192.0.2.1]";
  s.sender = "user";
  EXPECT_EQ(c.check(Stage::kRecipient, s)->str(),
            "504 5.5.2 <user>: Sender address rejected: need fully-qualified address");
  s.sender = "";
  s.recipient = "postmaster";
  EXPECT_EQ(c.check(Stage::kRecipient, s)->str(),
            "504 5.5.2 <postmaster>: Recipient address rejected: need fully-qualified address");
}

TEST(SmtpdCheck, UnlistedRecipient) {
  Env e;
  e.cfg.set_override("local_recipient_maps", "hash:/users");
  e.cfg.set_override("recipient_delimiter", "+");
  e.cfg.set_override("smtpd_recipient_restrictions", "reject_unlisted_recipient");
  e.lookups.tables["hash:/users|known"] = "x";
  EXPECT_EQ(e.rcpt("known@local.example"), "OK");
  EXPECT_EQ(e.rcpt("known+ext@local.example"), "OK");
  EXPECT_EQ(e.rcpt("nobody@local.example"),
            "550 5.1.1 <nobody@local.example>: Recipient address rejected: User unknown in local "
            "recipient table");
  e.cfg.set_override("local_recipient_maps", "");
  EXPECT_EQ(e.rcpt("nobody@local.example"), "OK");
}

TEST(SmtpdCheck, RestrictionClassesAndWarnIfReject) {
  Env e;
  e.cfg.set_override("smtpd_restriction_classes", "strict");
  e.cfg.set_override("strict", "reject_non_fqdn_recipient");
  e.cfg.set_override("smtpd_recipient_restrictions", "warn_if_reject reject, strict");
  Checker c = e.checker();
  CheckState s = e.state();
  s.recipient = "nofqdn";
  auto r = c.check(Stage::kRecipient, s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 504);
  EXPECT_EQ(e.logged.front().substr(0, 19), "reject_warning RCPT");
}

TEST(SmtpdCheck, PolicyServiceAndRbl) {
  Env e;
  e.cfg.set_override("smtpd_recipient_restrictions",
                     "check_policy_service inet:127.0.0.1:9, reject_rbl_client rbl.example");
  e.lookups.policy_answers["inet:127.0.0.1:9"] = "DEFER_IF_PERMIT nope";
  e.lookups.policy_answers["inet:127.0.0.1:9"] = "DUNNO";
  EXPECT_EQ(e.rcpt("x@local.example"), "OK");
  EXPECT_EQ(e.lookups.last_policy_request.str("recipient"), "x@local.example");
  EXPECT_EQ(e.lookups.last_policy_request.str("protocol_state"), "RCPT");
  e.lookups.a_records["7.100.51.198.rbl.example"] = {"127.0.0.2"};
  EXPECT_EQ(e.rcpt("x@local.example"),
            "554 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using rbl.example");
  e.lookups.policy_answers["inet:127.0.0.1:9"] = "REJECT policy says no";
  EXPECT_EQ(e.rcpt("x@local.example"),
            "554 5.7.1 <x@local.example>: Recipient address rejected: policy says no");
  e.lookups.policy_answers.clear();
  EXPECT_EQ(e.rcpt("x@local.example"), "451 4.3.5 Server configuration problem");
}

TEST(SmtpdCheck, UnknownDomains) {
  Env e;
  e.cfg.set_override("smtpd_sender_restrictions", "reject_unknown_sender_domain");
  e.lookups.domains["sender.example"] = false;
  EXPECT_EQ(e.rcpt("x@local.example"),
            "450 4.1.8 <s@sender.example>: Sender address rejected: Domain not found");
  e.lookups.domains["sender.example"] = true;
  EXPECT_EQ(e.rcpt("x@local.example"), "OK");
}

TEST(SmtpdCheck, UnknownRestrictionIsAConfigurationError) {
  Env e;
  e.cfg.set_override("smtpd_recipient_restrictions", "no_such_thing");
  EXPECT_EQ(e.rcpt("x@local.example"), "451 4.3.5 Server configuration error");
}
