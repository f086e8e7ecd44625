// The address verification cache: what the verify service knows of each
// address and when to send a new probe, with Postfix's rules.
//
// An entry is "status:probed:updated:text" (Postfix's format, so a
// verify_cache.db moves between the two): status is kVerifyOk..kVerifyTodo,
// probed the time of the last probe still in flight (0: none), updated the
// time of the last answer (0: none yet).
//   query:  no entry, a malformed one, or an expired one (and no probe sent
//           in the last 1000 seconds) reads as "in progress" (kVerifyTodo).
//           A probe goes out when none was sent in the last 1000 seconds
//           and the entry is due for a refresh (positive or negative
//           refresh time). Expired entries are deleted when negative
//           caching is off.
//   update: stores the answer, except that a failure never replaces a
//           positive entry (that address is re-probed on the next query).
//   sweep:  drops expired entries (no probe in the last 1000 seconds)
//           and malformed ones.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "util/error.h"

namespace postern::verify {

struct CacheEntry {
  int status = 3;  // kVerifyTodo
  long probed = 0;
  long updated = 0;
  std::string text;

  std::string format() const;
  // nullopt for a malformed entry.
  static std::optional<CacheEntry> parse(std::string_view raw);
};

struct CacheSettings {
  long positive_expire = 31 * 86400;   // address_verify_positive_expire_time
  long positive_refresh = 7 * 86400;   // address_verify_positive_refresh_time
  long negative_expire = 3 * 86400;    // address_verify_negative_expire_time
  long negative_refresh = 3 * 3600;    // address_verify_negative_refresh_time
  bool negative_cache = true;          // address_verify_negative_cache
};

inline constexpr long kProbeTtl = 1000;  // a probe without answer is lost after this

// Where entries live: a lookup table (btree:$data_directory/verify_cache)
// or memory. get() answers kNotFound for a missing key.
class CacheStore {
 public:
  virtual ~CacheStore() = default;
  virtual Result<std::string> get(const std::string& key) = 0;
  virtual Status put(const std::string& key, const std::string& value) = 0;
  virtual Status del(const std::string& key) = 0;
  // Every entry (for the cleanup sweep).
  virtual Status each(const std::function<void(const std::string&, const std::string&)>& visit) = 0;
};

// The key of an address (Postfix turns ':' into '_').
std::string cache_key(std::string_view address);

class Cache {
 public:
  Cache(CacheStore& store, CacheSettings settings) : store_(store), s_(settings) {}

  struct Answer {
    int status;
    std::string text;
  };
  // Answers a query at time `now`. `probe(address)` sends a probe and
  // returns whether it went out; it is called only when one is due.
  Answer query(std::string_view address, long now,
               const std::function<bool(std::string_view)>& probe);
  // Stores a probe's result at time `now`.
  Status update(std::string_view address, int status, std::string_view text, long now);

  struct SweepCount {
    long retained = 0, dropped = 0;
  };
  // Deletes the entries that are malformed, or expired with no probe in
  // flight (address_verify_cache_cleanup_interval).
  Result<SweepCount> sweep(long now);

 private:
  CacheStore& store_;
  CacheSettings s_;
};

}  // namespace postern::verify
