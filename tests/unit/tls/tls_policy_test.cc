#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "global/config.h"
#include "tls/tls_policy.h"

namespace postern::tls {
namespace {

TEST(Protocols, AtLeastSyntax) {
  auto r = parse_protocols("smtpd_tls_protocols", ">=TLSv1.2");
  ASSERT_TRUE(r) << r.error().text;
  EXPECT_EQ(r->min_version, TLS1_2_VERSION);
  EXPECT_EQ(r->max_version, TLS1_3_VERSION);
  EXPECT_EQ(r->disable_options, 0u);
  EXPECT_EQ(r->enabled, (std::vector<std::string>{"TLSv1.2", "TLSv1.3"}));
}

TEST(Protocols, ExclusionListSyntax) {
  auto r = parse_protocols("p", "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->min_version, TLS1_2_VERSION);
  EXPECT_EQ(r->max_version, TLS1_3_VERSION);
  // colons are separators too
  auto c = parse_protocols("p", "!SSLv2:!SSLv3:!TLSv1:!TLSv1.1:!TLSv1.3");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->enabled, (std::vector<std::string>{"TLSv1.2"}));
}

TEST(Protocols, HolesBecomeOptions) {
  auto r = parse_protocols("p", "!TLSv1.2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->min_version, SSL3_VERSION);
  EXPECT_EQ(r->max_version, TLS1_3_VERSION);
  EXPECT_EQ(r->disable_options, static_cast<unsigned long long>(SSL_OP_NO_TLSv1_2));
}

TEST(Protocols, InclusionAndUpperBound) {
  auto r = parse_protocols("p", "TLSv1.2 TLSv1.3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->min_version, TLS1_2_VERSION);
  auto u = parse_protocols("p", ">=TLSv1, <=TLSv1.2");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->min_version, TLS1_VERSION);
  EXPECT_EQ(u->max_version, TLS1_2_VERSION);
}

TEST(Protocols, Errors) {
  auto bad = parse_protocols("smtpd_tls_protocols", "!SSLv3, TLSv9");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().text.find("TLSv9"), std::string::npos);
  EXPECT_NE(bad.error().text.find("smtpd_tls_protocols"), std::string::npos);
  EXPECT_FALSE(parse_protocols("p", ">=TLSv1.3, <=TLSv1.2"));
  EXPECT_FALSE(parse_protocols("p", "SSLv2"));
}

TEST(Ciphers, GradesAndExclusions) {
  Config cfg;
  auto medium = cipher_list(cfg, "smtpd_tls_ciphers", "medium", {});
  ASSERT_TRUE(medium);
  EXPECT_EQ(*medium, "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH");
  auto high = cipher_list(cfg, "smtpd_tls_ciphers", "HIGH", {"aNULL", "RC4"});
  ASSERT_TRUE(high);
  EXPECT_EQ(*high, "aNULL:-aNULL:HIGH:@STRENGTH:!aNULL:!RC4");
  cfg.set_override("tls_high_cipherlist", "ECDHE+AESGCM");
  EXPECT_EQ(*cipher_list(cfg, "x", "high", {}), "ECDHE+AESGCM");
  auto bad = cipher_list(cfg, "smtpd_tls_mandatory_ciphers", "strong", {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().text.find("smtpd_tls_mandatory_ciphers"), std::string::npos);
}

TEST(Levels, ServerLevelAndLegacy) {
  Config cfg;
  EXPECT_EQ(*server_level(cfg), Level::kNone);
  cfg.set_override("smtpd_use_tls", "yes");
  EXPECT_EQ(*server_level(cfg), Level::kMay);
  cfg.set_override("smtpd_enforce_tls", "yes");
  EXPECT_EQ(*server_level(cfg), Level::kEncrypt);
  cfg.set_override("smtpd_tls_security_level", "may");
  EXPECT_EQ(*server_level(cfg), Level::kMay);
  cfg.set_override("smtpd_tls_security_level", "bogus");
  EXPECT_FALSE(server_level(cfg));
}

TEST(Levels, ClientLevelAndLegacy) {
  Config cfg;
  EXPECT_EQ(*client_level(cfg), Level::kNone);
  cfg.set_override("smtp_enforce_tls", "yes");
  EXPECT_EQ(*client_level(cfg), Level::kVerify);
  cfg.set_override("smtp_tls_enforce_peername", "no");
  EXPECT_EQ(*client_level(cfg), Level::kEncrypt);
  for (auto [text, level] : {std::pair{"dane", Level::kDane}, std::pair{"secure", Level::kSecure},
                             std::pair{"fingerprint", Level::kFingerprint}}) {
    cfg.set_override("smtp_tls_security_level", text);
    EXPECT_EQ(*client_level(cfg), level) << text;
  }
}

TEST(Names, Matching) {
  EXPECT_TRUE(name_matches("mail.example.com", "MAIL.example.com"));
  EXPECT_TRUE(name_matches("mail.example.com.", "mail.example.com"));
  EXPECT_FALSE(name_matches("example.com", "mail.example.com"));
  EXPECT_TRUE(name_matches(".example.com", "mail.example.com"));
  EXPECT_FALSE(name_matches(".example.com", "example.com"));
  EXPECT_TRUE(name_matches("a.wild.example.com", "*.wild.example.com"));
  EXPECT_FALSE(name_matches("wild.example.com", "*.wild.example.com"));
  EXPECT_TRUE(name_matches("a.b.wild.example.com", "*.wild.example.com", true));
  EXPECT_FALSE(name_matches("a.b.wild.example.com", "*.wild.example.com", false));
  auto p = match_patterns({"hostname", "nexthop", "dot-nexthop", "literal.org"}, "mx.example.com",
                          "example.com");
  EXPECT_EQ(p, (std::vector<std::string>{"mx.example.com", "example.com", ".example.com",
                                         "literal.org"}));
}

TEST(Fingerprints, FormatAndCompare) {
  EXPECT_EQ(format_fingerprint(std::string("\x01\xab\xff", 3)), "01:AB:FF");
  EXPECT_TRUE(fingerprint_equal("01:ab:ff", "01:AB:FF"));
  EXPECT_TRUE(fingerprint_equal("01abff", "01:AB:FF"));
  EXPECT_FALSE(fingerprint_equal("01:AB:FE", "01:AB:FF"));
  EXPECT_FALSE(fingerprint_equal("", ""));
}

}  // namespace
}  // namespace postern::tls
