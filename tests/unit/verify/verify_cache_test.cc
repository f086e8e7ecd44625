#include "verify/verify_cache.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "global/verify_client.h"

using namespace postern;
using namespace postern::verify;

namespace {

class FakeStore : public CacheStore {
 public:
  Result<std::string> get(const std::string& key) override {
    auto it = m.find(key);
    if (it == m.end()) return fail(Errc::kNotFound, "not found");
    return it->second;
  }
  Status put(const std::string& key, const std::string& value) override {
    m[key] = value;
    return {};
  }
  Status del(const std::string& key) override {
    m.erase(key);
    return {};
  }
  Status each(const std::function<void(const std::string&, const std::string&)>& visit) override {
    for (const auto& [k, v] : m) visit(k, v);
    return {};
  }
  std::map<std::string, std::string> m;
};

struct Fixture {
  FakeStore store;
  CacheSettings s;
  std::vector<std::string> probes;
  bool probe_ok = true;
  Cache cache{store, s};
  Cache::Answer ask(std::string_view addr, long now) {
    return cache.query(addr, now, [this](std::string_view a) {
      probes.emplace_back(a);
      return probe_ok;
    });
  }
};

constexpr long kNow = 1'700'000'000;

}  // namespace

TEST(VerifyCacheEntry, FormatAndParseRoundTrip) {
  CacheEntry e{kVerifyBounce, 12, 34, "unknown user: \"x\": with: colons"};
  EXPECT_EQ(e.format(), "2:12:34:unknown user: \"x\": with: colons");
  auto p = CacheEntry::parse(e.format());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, kVerifyBounce);
  EXPECT_EQ(p->probed, 12);
  EXPECT_EQ(p->updated, 34);
  EXPECT_EQ(p->text, e.text);
}

TEST(VerifyCacheEntry, MalformedEntriesAreRejected) {
  for (const char* bad : {"", "0", "0:1", "0:1:2", "x:1:2:t", "7:1:2:t", "0:a:2:t", "-1:1:2:t"})
    EXPECT_FALSE(CacheEntry::parse(bad)) << bad;
  EXPECT_TRUE(CacheEntry::parse("0:0:0:"));
}

TEST(VerifyCache, KeyNeutersColons) { EXPECT_EQ(cache_key("a@[ipv6:1::2]"), "a@[ipv6_1__2]"); }

TEST(VerifyCache, FirstQueryIsInProgressAndSendsOneProbe) {
  Fixture f;
  auto a = f.ask("u@example.com", kNow);
  EXPECT_EQ(a.status, kVerifyTodo);
  EXPECT_EQ(a.text, "Address verification in progress");
  ASSERT_EQ(f.probes.size(), 1u);
  // A second query soon after sends no second probe.
  a = f.ask("u@example.com", kNow + 5);
  EXPECT_EQ(a.status, kVerifyTodo);
  EXPECT_EQ(f.probes.size(), 1u);
  EXPECT_EQ(f.store.m["u@example.com"], "3:" + std::to_string(kNow) + ":0:Address verification in progress");
  // A probe lost for more than 1000 seconds is sent again.
  f.ask("u@example.com", kNow + kProbeTtl + 1);
  EXPECT_EQ(f.probes.size(), 2u);
}

TEST(VerifyCache, UpdateAnswersLaterQueries) {
  Fixture f;
  f.ask("u@example.com", kNow);
  ASSERT_TRUE(f.cache.update("u@example.com", kVerifyBounce, "unknown user: \"u\"", kNow + 2));
  auto a = f.ask("u@example.com", kNow + 3);
  EXPECT_EQ(a.status, kVerifyBounce);
  EXPECT_EQ(a.text, "unknown user: \"u\"");
  EXPECT_EQ(f.probes.size(), 1u);
}

TEST(VerifyCache, FailureNeverReplacesAPositiveEntry) {
  Fixture f;
  ASSERT_TRUE(f.cache.update("u@x", kVerifyOk, "delivers to mailbox", kNow));
  ASSERT_TRUE(f.cache.update("u@x", kVerifyDefer, "connection refused", kNow + 1));
  auto a = f.ask("u@x", kNow + 2);
  EXPECT_EQ(a.status, kVerifyOk);
  EXPECT_EQ(a.text, "delivers to mailbox");
  // But success replaces failure.
  ASSERT_TRUE(f.cache.update("v@x", kVerifyBounce, "no", kNow));
  ASSERT_TRUE(f.cache.update("v@x", kVerifyOk, "yes", kNow + 1));
  EXPECT_EQ(f.ask("v@x", kNow + 2).status, kVerifyOk);
}

TEST(VerifyCache, PositiveRefreshProbesButKeepsAnswering) {
  Fixture f;
  ASSERT_TRUE(f.cache.update("u@x", kVerifyOk, "ok", kNow));
  f.ask("u@x", kNow + f.s.positive_refresh - 1);
  EXPECT_TRUE(f.probes.empty());
  auto a = f.ask("u@x", kNow + f.s.positive_refresh + 1);
  EXPECT_EQ(a.status, kVerifyOk);  // still good while the refresh probe runs
  EXPECT_EQ(f.probes.size(), 1u);
}

TEST(VerifyCache, ExpiredEntriesReadAsInProgress) {
  Fixture f;
  ASSERT_TRUE(f.cache.update("u@x", kVerifyOk, "ok", kNow));
  auto a = f.ask("u@x", kNow + f.s.positive_expire + 1);
  EXPECT_EQ(a.status, kVerifyTodo);
  ASSERT_TRUE(f.cache.update("n@x", kVerifyBounce, "no", kNow));
  a = f.ask("n@x", kNow + f.s.negative_refresh + 1);  // refresh, not expired
  EXPECT_EQ(a.status, kVerifyBounce);
  a = f.ask("n@x", kNow + f.s.negative_expire + kProbeTtl + 10);
  EXPECT_EQ(a.status, kVerifyTodo);
}

TEST(VerifyCache, WithoutNegativeCachingNothingNegativeIsStored) {
  FakeStore store;
  CacheSettings s;
  s.negative_cache = false;
  Cache cache(store, s);
  int probes = 0;
  auto probe = [&](std::string_view) { ++probes; return true; };
  EXPECT_EQ(cache.query("u@x", kNow, probe).status, kVerifyTodo);
  EXPECT_TRUE(store.m.empty());
  // Each query probes again: nothing remembers the probe in flight.
  cache.query("u@x", kNow + 1, probe);
  EXPECT_EQ(probes, 2);
}

TEST(VerifyCache, AProbeThatCouldNotBeSentIsNotRemembered) {
  Fixture f;
  f.probe_ok = false;
  f.ask("u@x", kNow);
  EXPECT_TRUE(f.store.m.empty());
  f.probe_ok = true;
  f.ask("u@x", kNow + 1);
  EXPECT_EQ(f.probes.size(), 2u);
}

TEST(VerifyCache, MalformedStoredEntryReadsAsInProgress) {
  Fixture f;
  f.store.m["u@x"] = "garbage";
  EXPECT_EQ(f.ask("u@x", kNow).status, kVerifyTodo);
  EXPECT_EQ(f.probes.size(), 1u);
}

TEST(VerifyCache, SweepDropsExpiredAndMalformedEntries) {
  Fixture f;
  ASSERT_TRUE(f.cache.update("fresh@x", kVerifyOk, "ok", kNow));
  ASSERT_TRUE(f.cache.update("old@x", kVerifyOk, "ok", kNow - f.s.positive_expire - 10));
  ASSERT_TRUE(f.cache.update("oldneg@x", kVerifyBounce, "no", kNow - f.s.negative_expire - 10));
  f.store.m["junk@x"] = "junk";
  // Expired, but a probe is in flight: kept until it answers or is lost.
  f.store.m["probing@x"] = CacheEntry{kVerifyBounce, kNow - 5, 1, "no"}.format();
  auto n = f.cache.sweep(kNow);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->retained, 2);
  EXPECT_EQ(n->dropped, 3);
  EXPECT_TRUE(f.store.m.count("fresh@x"));
  EXPECT_TRUE(f.store.m.count("probing@x"));
  EXPECT_FALSE(f.store.m.count("old@x"));
}
