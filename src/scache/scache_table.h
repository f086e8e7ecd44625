// The connection cache itself (scache's state), free of I/O so that unit
// tests can drive it with their own clock.
//
// Endpoints: label -> cached sessions, newest first; find_endp() takes the
// newest one out. Destinations: label -> (endpoint label, property), kept
// until they expire; find_dest() takes a session of that endpoint. Every
// entry has a deadline (now + ttl, ttl capped by the service).
#pragma once

#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include "util/unique_fd.h"

namespace postern {

struct ScacheStats {
  long dest_hits = 0, dest_miss = 0;
  long endp_hits = 0, endp_miss = 0;
  size_t max_dests = 0, max_endps = 0, max_sessions = 0;
};

class ScacheTable {
 public:
  struct Session {
    std::string endp_prop;
    UniqueFd fd;
    time_t expires = 0;
  };
  struct Dest {
    std::string endp_label;
    std::string dest_prop;
    time_t expires = 0;
  };

  void save_endp(const std::string& label, std::string prop, UniqueFd fd, int ttl, time_t now);
  std::optional<Session> find_endp(const std::string& label, time_t now);
  void save_dest(const std::string& label, std::string dest_prop, std::string endp_label, int ttl,
                 time_t now);
  // The destination's property and a session of its endpoint.
  std::optional<std::pair<std::string, Session>> find_dest(const std::string& label, time_t now);

  // Closes expired sessions and forgets expired destinations.
  void expire(time_t now);

  size_t sessions() const { return session_count_; }
  size_t endpoints() const { return endps_.size(); }
  size_t destinations() const { return dests_.size(); }

  const ScacheStats& stats() const { return stats_; }
  // Starts a new statistics interval (maxima restart from the current sizes).
  void reset_stats();

 private:
  void note_sizes();

  std::map<std::string, std::deque<Session>> endps_;
  std::map<std::string, Dest> dests_;
  size_t session_count_ = 0;
  ScacheStats stats_;
};

}  // namespace postern
