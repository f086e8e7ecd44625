#include "verify/verify_cache.h"

#include <charconv>
#include <vector>

#include "global/verify_client.h"

namespace postern::verify {

namespace {

bool parse_long(std::string_view s, long* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string CacheEntry::format() const {
  return std::to_string(status) + ":" + std::to_string(probed) + ":" + std::to_string(updated) +
         ":" + text;
}

std::optional<CacheEntry> CacheEntry::parse(std::string_view raw) {
  CacheEntry e;
  long fields[3];
  for (long& f : fields) {
    size_t colon = raw.find(':');
    if (colon == std::string_view::npos || !parse_long(raw.substr(0, colon), &f)) return std::nullopt;
    raw.remove_prefix(colon + 1);
  }
  if (fields[0] < kVerifyOk || fields[0] > kVerifyTodo) return std::nullopt;
  e.status = static_cast<int>(fields[0]);
  e.probed = fields[1];
  e.updated = fields[2];
  e.text = std::string(raw);
  return e;
}

std::string cache_key(std::string_view address) {
  std::string key(address);
  for (char& c : key)
    if (c == ':') c = '_';
  return key;
}

Cache::Answer Cache::query(std::string_view address, long now,
                           const std::function<bool(std::string_view)>& probe) {
  std::string key = cache_key(address);
  auto raw = store_.get(key);
  std::optional<CacheEntry> e;
  if (raw) e = CacheEntry::parse(*raw);
  auto expired = [&](const CacheEntry& x) {
    if (x.status == kVerifyOk) return x.updated + s_.positive_expire < now;
    return x.updated + s_.negative_expire < now;
  };
  if (!e || (now - e->probed > kProbeTtl && expired(*e))) {
    if (raw && !s_.negative_cache) (void)store_.del(key);
    e = CacheEntry{kVerifyTodo, 0, 0, "Address verification in progress"};
  }
  Answer answer{e->status, e->text};
  bool refresh = e->status == kVerifyOk ? e->updated + s_.positive_refresh < now
                                        : e->updated + s_.negative_refresh < now;
  if (now - e->probed > kProbeTtl && refresh && probe(address)) {
    if (e->updated != 0 || s_.negative_cache) {
      CacheEntry put = *e;
      put.probed = now;
      (void)store_.put(key, put.format());
    }
  }
  return answer;
}

Result<Cache::SweepCount> Cache::sweep(long now) {
  SweepCount count;
  std::vector<std::string> drop;
  auto st = store_.each([&](const std::string& key, const std::string& raw) {
    auto e = CacheEntry::parse(raw);
    bool expired = e && (e->status == kVerifyOk ? e->updated + s_.positive_expire < now
                                                : e->updated + s_.negative_expire < now);
    if (!e || (now - e->probed >= kProbeTtl && expired))
      drop.push_back(key);
    else
      ++count.retained;
  });
  if (!st) return std::unexpected(st.error());
  for (const auto& key : drop) {
    if (auto d = store_.del(key); !d) return std::unexpected(d.error());
    ++count.dropped;
  }
  return count;
}

Status Cache::update(std::string_view address, int status, std::string_view text, long now) {
  std::string key = cache_key(address);
  if (status != kVerifyOk) {
    // A failed probe never replaces a positive answer before it expires.
    if (auto raw = store_.get(key)) {
      auto e = CacheEntry::parse(*raw);
      if (e && e->status == kVerifyOk) return {};
    }
  }
  return store_.put(key, CacheEntry{status, 0, now, std::string(text)}.format());
}

}  // namespace postern::verify
