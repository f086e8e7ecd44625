// qmgr's pure scheduling decisions, kept apart for unit tests: retry
// back-off, expiry, and splitting recipients into delivery requests.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace postern::qmgr {

// Seconds until the next attempt of a message that is `age` seconds old:
// its age, but at least minimal_backoff_time and at most maximal_backoff_time
// (so the interval roughly doubles with each attempt).
long backoff_delay(long age, long min_backoff, long max_backoff);

// Whether a message of this age has outlived its lifetime
// (bounce_queue_lifetime for null-sender mail, else maximal_queue_lifetime).
// A lifetime of 0 means one delivery attempt only.
bool message_expired(long age, bool null_sender, long max_lifetime, long bounce_lifetime,
                     bool forced);

// qmgr_message_recipient_limit: the recipients of a message are read in
// slices. A slice holds up to `budget` (at least `minimum`, at least 1)
// recipients that are not done, starting at list position `start`.
struct Slice {
  std::vector<size_t> indexes;  // positions in the recipient list
  size_t next = 0;              // where the next slice starts
  bool more = false;            // recipients not done remain from `next` on
};
template <class DoneFn>
Slice next_slice(size_t count, size_t start, long budget, long minimum, DoneFn done) {
  Slice s;
  long want = std::max<long>({budget, minimum, 1});
  size_t i = start;
  for (; i < count && static_cast<long>(s.indexes.size()) < want; ++i)
    if (!done(i)) s.indexes.push_back(i);
  s.next = i;
  for (; i < count; ++i)
    if (!done(i)) {
      s.more = true;
      break;
    }
  return s;
}

// One recipient with its resolved destination.
struct Routed {
  std::string transport;
  std::string nexthop;
  size_t index;  // into the message's recipient list
};

// A group of recipients for one delivery request.
struct Batch {
  std::string transport;
  std::string nexthop;
  std::vector<size_t> indexes;
};

// Groups recipients by transport and next hop (first appearance order) and
// splits each group into batches of at most `limit(transport)` recipients
// (a limit below 1 counts as 1).
template <class LimitFn>
std::vector<Batch> make_batches(const std::vector<Routed>& routed, LimitFn limit) {
  std::vector<Batch> groups;
  std::map<std::pair<std::string, std::string>, size_t> where;
  for (const auto& r : routed) {
    auto key = std::make_pair(r.transport, r.nexthop);
    auto it = where.find(key);
    if (it == where.end()) {
      it = where.emplace(key, groups.size()).first;
      groups.push_back(Batch{r.transport, r.nexthop, {}});
    }
    groups[it->second].indexes.push_back(r.index);
  }
  std::vector<Batch> out;
  for (auto& g : groups) {
    long n = limit(g.transport);
    size_t per = n < 1 ? 1 : static_cast<size_t>(n);
    for (size_t i = 0; i < g.indexes.size(); i += per) {
      Batch b{g.transport, g.nexthop, {}};
      for (size_t j = i; j < g.indexes.size() && j < i + per; ++j) b.indexes.push_back(g.indexes[j]);
      out.push_back(std::move(b));
    }
  }
  return out;
}

}  // namespace postern::qmgr
