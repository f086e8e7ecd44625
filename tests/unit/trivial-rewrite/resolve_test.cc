#include "trivial-rewrite/resolve.h"

#include <gtest/gtest.h>

#include <map>

namespace postern {
namespace {

// Tables are plain maps keyed by "spec" then key; "temp:" specs fail.
struct FakeTables {
  std::map<std::string, std::map<std::string, std::string>> tables;
  std::vector<std::string> asked;
  TableLookup lookup() {
    return [this](std::string_view spec, std::string_view key, bool) -> Result<std::string> {
      asked.push_back(std::string(spec) + "|" + std::string(key));
      if (spec.starts_with("temp:")) return fail(Errc::kTemporary, "table unavailable");
      auto t = tables.find(std::string(spec));
      if (t != tables.end()) {
        auto v = t->second.find(std::string(key));
        if (v != t->second.end()) return v->second;
      }
      return fail(Errc::kNotFound, "not found");
    };
  }
};

MatchList list(std::string_view text, TableLookup lookup = {}) {
  MatchListOptions o;
  o.param_name = "test";
  o.lookup = std::move(lookup);
  return *MatchList::parse(text, o);
}

ResolveSettings settings(FakeTables& t) {
  ResolveSettings s;
  s.lookup = t.lookup();
  s.canonical.origin = "mail.example.com";
  s.canonical.domain = "example.com";
  s.myhostname = "mail.example.com";
  s.mydestination = list("mail.example.com, localhost.example.com, localhost");
  s.own_addresses = {*IpAddress::parse("192.0.2.10"), *IpAddress::parse("127.0.0.1")};
  s.local_transport = "local:mail.example.com";
  s.virtual_transport = "virtual";
  s.relay_transport = "relay";
  s.default_transport = "smtp";
  return s;
}

TEST(Resolve, LocalDomainsGoToTheLocalTransport) {
  FakeTables t;
  ResolveReply r = resolve_address(settings(t), "", "alice@mail.example.com");
  EXPECT_EQ(r.flags, kResolveClassLocal);
  EXPECT_EQ(r.transport, "local");
  EXPECT_EQ(r.nexthop, "mail.example.com");
  EXPECT_EQ(r.recipient, "alice@mail.example.com");
}

TEST(Resolve, BareUsersAreLocalAtMyorigin) {
  FakeTables t;
  ResolveReply r = resolve_address(settings(t), "", "bob");
  EXPECT_EQ(r.flags & kResolveClassLocal, kResolveClassLocal);
  EXPECT_EQ(r.recipient, "bob@mail.example.com");
}

TEST(Resolve, NullRecipientIsMailerDaemon) {
  FakeTables t;
  ResolveReply r = resolve_address(settings(t), "", "");
  EXPECT_EQ(r.recipient, "MAILER-DAEMON@mail.example.com");
  EXPECT_EQ(r.transport, "local");
}

TEST(Resolve, OwnAddressLiteralsAreLocal) {
  FakeTables t;
  EXPECT_EQ(resolve_address(settings(t), "", "u@[192.0.2.10]").flags, kResolveClassLocal);
  EXPECT_EQ(resolve_address(settings(t), "", "u@[192.0.2.11]").flags, kResolveClassDefault);
}

TEST(Resolve, RemoteDomainsUseDefaultTransportAndTheDomainAsNexthop) {
  FakeTables t;
  ResolveReply r = resolve_address(settings(t), "", "carol@Far.ORG");
  EXPECT_EQ(r.flags, kResolveClassDefault);
  EXPECT_EQ(r.transport, "smtp");
  EXPECT_EQ(r.nexthop, "Far.ORG");
  EXPECT_EQ(r.recipient, "carol@Far.ORG");
}

TEST(Resolve, RelayhostIsTheNexthopForDefaultAndRelayClasses) {
  FakeTables t;
  ResolveSettings s = settings(t);
  s.relayhost = "[smtp.provider.net]:587";
  s.relay_domains = list("backup.org");
  ResolveReply r = resolve_address(s, "", "x@far.org");
  EXPECT_EQ(r.nexthop, "[smtp.provider.net]:587");
  r = resolve_address(s, "", "x@backup.org");
  EXPECT_EQ(r.flags, kResolveClassRelay);
  EXPECT_EQ(r.transport, "relay");
  EXPECT_EQ(r.nexthop, "[smtp.provider.net]:587");
}

TEST(Resolve, VirtualAliasDomainsWithoutAnAliasAreUnknownUsers) {
  FakeTables t;
  ResolveSettings s = settings(t);
  s.virtual_alias_domains = list("alias.example");
  ResolveReply r = resolve_address(s, "", "nobody@alias.example");
  EXPECT_EQ(r.flags, kResolveClassAlias);
  EXPECT_EQ(r.transport, "error");
  EXPECT_EQ(r.nexthop, "5.1.1 User unknown in virtual alias table");
}

TEST(Resolve, VirtualMailboxDomainsUseTheVirtualTransport) {
  FakeTables t;
  t.tables["hash:vmailbox"]["hosted.example"] = "x";
  ResolveSettings s = settings(t);
  s.virtual_mailbox_domains = list("hash:vmailbox", t.lookup());
  ResolveReply r = resolve_address(s, "", "dora@hosted.example");
  EXPECT_EQ(r.flags, kResolveClassVirtual);
  EXPECT_EQ(r.transport, "virtual");
  EXPECT_EQ(r.nexthop, "hosted.example");
}

TEST(Resolve, TransportMapsSearchAddressThenDomainThenParentsThenStar) {
  FakeTables t;
  ResolveSettings s = settings(t);
  s.transport_maps = {"hash:transport"};
  s.recipient_delimiter = "+";
  auto& map = t.tables["hash:transport"];
  map["vip@far.org"] = "smtp:[vip-relay]:25";
  map[".sub.org"] = "relay:[inner.sub.org]";
  map["plain.org"] = "uucp:";
  map["keep.org"] = ":[gateway]";
  map["*"] = "error:5.7.1 no outside mail";
  EXPECT_EQ(resolve_address(s, "", "vip+tag@far.org").nexthop, "[vip-relay]:25");
  ResolveReply sub = resolve_address(s, "", "a@x.sub.org");
  EXPECT_EQ(sub.transport, "relay");
  EXPECT_EQ(sub.nexthop, "[inner.sub.org]");
  // Without transport_maps in parent_domain_matches_subdomains, ".sub.org"
  // covers subdomains only, so sub.org itself falls through to "*".
  EXPECT_EQ(resolve_address(s, "", "a@sub.org").transport, "error");
  ResolveReply plain = resolve_address(s, "", "a@plain.org");
  EXPECT_EQ(plain.transport, "uucp");
  EXPECT_EQ(plain.nexthop, "plain.org");
  ResolveReply keep = resolve_address(s, "", "a@keep.org");
  EXPECT_EQ(keep.transport, "smtp");
  EXPECT_EQ(keep.nexthop, "[gateway]");
  ResolveReply other = resolve_address(s, "", "a@other.net");
  EXPECT_EQ(other.transport, "error");
  EXPECT_EQ(other.nexthop, "5.7.1 no outside mail");
}

TEST(Resolve, SenderDependentRelayhostAndTransport) {
  FakeTables t;
  ResolveSettings s = settings(t);
  s.relayhost = "[default-relay]";
  s.sender_relayhost_maps = {"hash:sender_relay"};
  s.sender_default_transport_maps = {"hash:sender_transport"};
  t.tables["hash:sender_relay"]["@brand.example"] = "[brand-relay]:587";
  t.tables["hash:sender_relay"]["<>"] = "[bounce-relay]";
  t.tables["hash:sender_transport"]["news@brand.example"] = "bulk:";
  EXPECT_EQ(resolve_address(s, "sales@brand.example", "x@far.org").nexthop, "[brand-relay]:587");
  EXPECT_EQ(resolve_address(s, "", "x@far.org").nexthop, "[bounce-relay]");
  EXPECT_EQ(resolve_address(s, "other@else.example", "x@far.org").nexthop, "[default-relay]");
  EXPECT_EQ(resolve_address(s, "news@brand.example", "x@far.org").transport, "bulk");
}

TEST(Resolve, RoutingThroughThisHostIsFlagged) {
  FakeTables t;
  ResolveSettings s = settings(t);
  ResolveReply r = resolve_address(s, "", "victim%far.org@mail.example.com");
  EXPECT_EQ(r.flags, kResolveClassDefault | kResolveRouted);
  EXPECT_EQ(r.recipient, "victim@far.org");
  r = resolve_address(s, "", "far.org!victim@mail.example.com");
  EXPECT_EQ(r.recipient, "victim@far.org");
  EXPECT_TRUE(r.flags & kResolveRouted);
  s.canonical.percent_hack = false;
  r = resolve_address(s, "", "victim%far.org@mail.example.com");
  EXPECT_EQ(r.flags, kResolveClassLocal);
  EXPECT_EQ(r.recipient, "victim%far.org@mail.example.com");
}

TEST(Resolve, BadDomainsAndNullDomains) {
  FakeTables t;
  ResolveSettings s = settings(t);
  EXPECT_TRUE(resolve_address(s, "", "u@bad_domain!.org").flags & kResolveError);
  EXPECT_TRUE(resolve_address(s, "", "u@").flags & kResolveError);
  s.resolve_null_domain = true;
  EXPECT_EQ(resolve_address(s, "", "u@").flags, kResolveClassLocal);
}

TEST(Resolve, TableFailuresAreReportedAsFail) {
  FakeTables t;
  ResolveSettings s = settings(t);
  s.transport_maps = {"temp:transport"};
  EXPECT_EQ(resolve_address(s, "", "u@far.org").flags, kResolveFail);
  s.transport_maps.clear();
  s.relay_domains = list("temp:relay", t.lookup());
  EXPECT_EQ(resolve_address(s, "", "u@far.org").flags, kResolveFail);
}

}  // namespace
}  // namespace postern

#include <filesystem>
#include <fstream>

#include "global/config.h"

namespace postern {
namespace {

TEST(ResolveConfig, SettingsComeFromMainCf) {
  auto dir = std::filesystem::temp_directory_path() / "resolve_config_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "main.cf") << "compatibility_level = 3.6\n"
                                    "myhostname = mx.example.net\n"
                                    "mydomain = example.net\n"
                                    "mydestination = $myhostname, localhost\n"
                                    "relay_domains = partner.example\n"
                                    "relayhost = [smarthost.example]:587\n"
                                    "inet_interfaces = loopback-only\n";
  auto cfg = Config::load(dir.string());
  ASSERT_TRUE(cfg) << cfg.error().text;
  auto s = ResolveSettings::from_config(*cfg, {});
  ASSERT_TRUE(s) << s.error().text;
  EXPECT_EQ(resolve_address(*s, "", "root").recipient, "root@mx.example.net");
  EXPECT_EQ(resolve_address(*s, "", "u@[127.0.0.1]").flags, kResolveClassLocal);
  ResolveReply relay = resolve_address(*s, "", "u@partner.example");
  EXPECT_EQ(relay.flags, kResolveClassRelay);
  EXPECT_EQ(relay.nexthop, "[smarthost.example]:587");
  ResolveReply other = resolve_address(*s, "", "u@elsewhere.example");
  EXPECT_EQ(other.transport, "smtp");
  EXPECT_EQ(other.nexthop, "[smarthost.example]:587");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace postern
