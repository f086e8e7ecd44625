// The restrictions about proven identities (client certificates, SASL
// logins) and the DNSBL reply templates, with fake lookups.
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
  Env() {
    cfg.set_override("mynetworks", "192.0.2.0/24");
    cfg.set_override("local_recipient_maps", "");
    cfg.set_override("smtpd_relay_restrictions", "reject_unauth_destination");
  }
  std::string check(Stage stage, CheckState s) {
    auto c = Checker::from_config(cfg, lookups);
    EXPECT_TRUE(c);
    s.client_name = "client.example";
    s.client_addr = "198.51.100.7";
    s.helo = "client.example";
    if (s.recipient.empty()) s.recipient = "x@elsewhere.example";
    auto r = c->check(stage, s);
    return r ? r->str() : "OK";
  }
  CheckState sender(std::string from, std::string login = "") {
    CheckState s;
    s.sender = from;
    s.sasl_username = login;
    return s;
  }
};

CheckState with_cert(bool trusted) {
  CheckState s;
  s.sender = "s@example.com";
  s.tls_active = true;
  s.ccert_present = true;
  s.ccert_trusted = trusted;
  s.ccert_fingerprint = "AA:BB";
  s.ccert_pkey_fingerprint = "CC:DD";
  s.ccert_subject = "client.example.com";
  return s;
}

}  // namespace

TEST(SmtpdAuthCheck, PermitTlsClientcerts) {
  Env e;
  e.cfg.set_override("relay_clientcerts", "hash:/certs");
  e.cfg.set_override("smtpd_relay_restrictions", "permit_tls_clientcerts, reject_unauth_destination");
  e.lookups.tables["hash:/certs|CC:DD"] = "client";  // the public-key fingerprint
  EXPECT_EQ(e.check(Stage::kRecipient, with_cert(false)), "OK");
  CheckState none = with_cert(false);
  none.ccert_present = false;
  EXPECT_EQ(e.check(Stage::kRecipient, none).substr(0, 3), "554");
  e.lookups.tables.clear();
  EXPECT_EQ(e.check(Stage::kRecipient, with_cert(true)).substr(0, 3), "554");
}

TEST(SmtpdAuthCheck, PermitTlsAllClientcerts) {
  Env e;
  e.cfg.set_override("smtpd_relay_restrictions", "permit_tls_all_clientcerts, reject_unauth_destination");
  EXPECT_EQ(e.check(Stage::kRecipient, with_cert(true)), "OK");
  EXPECT_EQ(e.check(Stage::kRecipient, with_cert(false)).substr(0, 3), "554");
}

TEST(SmtpdAuthCheck, CheckCcertAccess) {
  Env e;
  e.cfg.set_override("smtpd_relay_restrictions", "check_ccert_access hash:/acl, reject_unauth_destination");
  e.lookups.tables["hash:/acl|AA:BB"] = "OK";
  EXPECT_EQ(e.check(Stage::kRecipient, with_cert(false)), "OK");
  e.lookups.tables["hash:/acl|AA:BB"] = "REJECT revoked";
  EXPECT_EQ(e.check(Stage::kRecipient, with_cert(true)),
            "554 5.7.1 <client.example.com>: Client certificate rejected: revoked");
}

TEST(SmtpdAuthCheck, SenderLoginMismatch) {
  Env e;
  e.cfg.set_override("smtpd_sasl_auth_enable", "yes");
  e.cfg.set_override("smtpd_sender_login_maps", "hash:/logins");
  e.cfg.set_override("smtpd_sender_restrictions", "reject_sender_login_mismatch");
  e.cfg.set_override("smtpd_relay_restrictions", "permit");
  e.lookups.tables["hash:/logins|alice@example.com"] = "alice, carol";
  e.lookups.tables["hash:/logins|@shared.example"] = "bob alice";
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("alice@example.com", "alice")), "OK");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("alice@example.com", "Carol")), "OK");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("x+y@shared.example", "alice")), "OK");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("alice@example.com", "bob")),
            "553 5.7.1 <alice@example.com>: Sender address rejected: not owned by user bob");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("z@nowhere.example", "bob")),
            "553 5.7.1 <z@nowhere.example>: Sender address rejected: not owned by user bob");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("alice@example.com")),
            "553 5.7.1 <alice@example.com>: Sender address rejected: not logged in");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("z@nowhere.example")), "OK");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("")), "OK");
  e.cfg.set_override("smtpd_sender_restrictions", "reject_known_sender_login_mismatch");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("z@nowhere.example", "bob")), "OK");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("alice@example.com", "bob")).substr(0, 3), "553");
  e.cfg.set_override("smtpd_sender_restrictions", "reject_authenticated_sender_login_mismatch");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("alice@example.com")), "OK");
  e.cfg.set_override("smtpd_sender_restrictions", "reject_unauthenticated_sender_login_mismatch");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("alice@example.com", "bob")), "OK");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("alice@example.com")).substr(0, 3), "553");
  // Without SASL, Postfix ignores these restrictions (with a warning).
  e.cfg.set_override("smtpd_sasl_auth_enable", "no");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("alice@example.com")), "OK");
}

TEST(SmtpdAuthCheck, RbReplyMaps) {
  Env e;
  e.cfg.set_override("smtpd_client_restrictions", "reject_rbl_client rbl.example");
  e.lookups.a_records["7.100.51.198.rbl.example"] = {"127.0.0.2"};
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("s@example.com")),
            "554 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using rbl.example");
  e.cfg.set_override("default_rbl_reply", "$rbl_code 5.7.9 Go away $client_address (${rbl_reason?$rbl_reason}${rbl_reason:none})");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("s@example.com")),
            "554 5.7.9 Go away 198.51.100.7 (none)");
  e.cfg.set_override("rbl_reply_maps", "hash:/rbl");
  e.lookups.tables["hash:/rbl|rbl.example"] = "450 4.7.1 Listed by $rbl_domain for $sender_domain";
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("s@example.com")),
            "450 4.7.1 Listed by rbl.example for example.com");
}

TEST(SmtpdAuthCheck, RejectPlaintextSession) {
  Env e;
  e.cfg.set_override("smtpd_relay_restrictions", "reject_plaintext_session, permit");
  EXPECT_EQ(e.check(Stage::kRecipient, e.sender("s@example.com")),
            "450 4.7.1 Session encryption is required");
  EXPECT_EQ(e.check(Stage::kRecipient, with_cert(false)), "OK");
}
