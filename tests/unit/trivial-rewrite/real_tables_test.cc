// Resolution with real lookup tables through maps::make_table_lookup.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "maps/table_lookup.h"
#include "trivial-rewrite/resolve.h"

namespace postern {
namespace {

TEST(ResolveWithTables, TexthashTransportAndRegexpDomains) {
  auto dir = std::filesystem::temp_directory_path() / "resolve_tables_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "transport") << "example.org  smtp:[mx.example.org]:2525\n"
                                      ".example.org relay:[inner]\n";
  // A regexp table answers whole keys only: "sub.hosted.test" matches, but
  // the parent walk must not feed it "hosted.test".
  std::ofstream(dir / "domains") << "/^sub\\.hosted\\.test$/ ok\n/^hosted\\.test$/ ok\n";
  TableLookup lookup = maps::make_table_lookup();

  ResolveSettings s;
  s.lookup = lookup;
  s.myhostname = "mx.local.test";
  s.canonical.origin = "mx.local.test";
  s.local_transport = "local";
  s.virtual_transport = "virtual";
  s.relay_transport = "relay";
  s.default_transport = "smtp";
  s.transport_maps = {"texthash:" + (dir / "transport").string()};
  MatchListOptions o;
  o.param_name = "virtual_mailbox_domains";
  o.lookup = lookup;
  o.parent_matches_subdomains = true;
  s.virtual_mailbox_domains = *MatchList::parse("regexp:" + (dir / "domains").string(), o);

  ResolveReply r = resolve_address(s, "", "a@example.org");
  EXPECT_EQ(r.transport, "smtp");
  EXPECT_EQ(r.nexthop, "[mx.example.org]:2525");
  r = resolve_address(s, "", "a@deep.example.org");
  EXPECT_EQ(r.transport, "relay");
  EXPECT_EQ(r.nexthop, "[inner]");
  EXPECT_EQ(resolve_address(s, "", "a@sub.hosted.test").flags, kResolveClassVirtual);
  EXPECT_EQ(resolve_address(s, "", "a@x.hosted.test").flags, kResolveClassDefault);

  s.transport_maps = {"hash:" + (dir / "missing").string()};
  EXPECT_EQ(resolve_address(s, "", "a@example.org").flags, kResolveFail);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace postern
