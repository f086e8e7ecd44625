#include "scache/scache_table.h"

#include <algorithm>

namespace postern {

void ScacheTable::save_endp(const std::string& label, std::string prop, UniqueFd fd, int ttl,
                            time_t now) {
  endps_[label].push_front(Session{std::move(prop), std::move(fd), now + ttl});
  ++session_count_;
  note_sizes();
}

std::optional<ScacheTable::Session> ScacheTable::find_endp(const std::string& label, time_t now) {
  expire(now);
  auto it = endps_.find(label);
  if (it == endps_.end() || it->second.empty()) {
    ++stats_.endp_miss;
    return std::nullopt;
  }
  Session s = std::move(it->second.front());
  it->second.pop_front();
  --session_count_;
  if (it->second.empty()) endps_.erase(it);
  ++stats_.endp_hits;
  return s;
}

void ScacheTable::save_dest(const std::string& label, std::string dest_prop,
                            std::string endp_label, int ttl, time_t now) {
  dests_[label] = Dest{std::move(endp_label), std::move(dest_prop), now + ttl};
  note_sizes();
}

std::optional<std::pair<std::string, ScacheTable::Session>> ScacheTable::find_dest(
    const std::string& label, time_t now) {
  expire(now);
  auto it = dests_.find(label);
  if (it == dests_.end()) {
    ++stats_.dest_miss;
    return std::nullopt;
  }
  std::string prop = it->second.dest_prop;
  auto s = find_endp(it->second.endp_label, now);
  if (!s) {
    ++stats_.dest_miss;
    return std::nullopt;
  }
  ++stats_.dest_hits;
  return std::make_pair(std::move(prop), std::move(*s));
}

void ScacheTable::expire(time_t now) {
  for (auto it = endps_.begin(); it != endps_.end();) {
    auto& list = it->second;
    size_t before = list.size();
    std::erase_if(list, [now](const Session& s) { return s.expires <= now; });
    session_count_ -= before - list.size();
    it = list.empty() ? endps_.erase(it) : std::next(it);
  }
  std::erase_if(dests_, [now](const auto& kv) { return kv.second.expires <= now; });
}

void ScacheTable::note_sizes() {
  stats_.max_dests = std::max(stats_.max_dests, dests_.size());
  stats_.max_endps = std::max(stats_.max_endps, endps_.size());
  stats_.max_sessions = std::max(stats_.max_sessions, session_count_);
}

void ScacheTable::reset_stats() {
  stats_ = ScacheStats{};
  note_sizes();
}

}  // namespace postern
