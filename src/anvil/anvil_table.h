// The counters behind the anvil service: per client ("service:address")
// the number of open connections and, per anvil_rate_time_unit, the rates
// of connections, messages, recipients, new TLS sessions and AUTH
// commands; plus the maxima that the periodic statistics lines report.
// Times are passed in, so the arithmetic is testable.
#pragma once

#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace postern {

struct AnvilEntry {
  int count = 0;  // open connections
  int rate = 0;   // connections in the current time unit
  int mail = 0, rcpt = 0, newtls = 0, auth = 0;
  time_t start = 0;  // when the current time unit began
};

class AnvilTable {
 public:
  explicit AnvilTable(int time_unit) : unit_(time_unit > 0 ? time_unit : 60) {}

  // Each returns the entry after the event.
  const AnvilEntry& connect(const std::string& ident, time_t now);
  void disconnect(const std::string& ident, time_t now);
  const AnvilEntry& message(const std::string& ident, time_t now);
  const AnvilEntry& recipient(const std::string& ident, time_t now);
  const AnvilEntry& newtls(const std::string& ident, time_t now);
  AnvilEntry newtls_status(const std::string& ident, time_t now);
  const AnvilEntry& auth(const std::string& ident, time_t now);
  AnvilEntry lookup(const std::string& ident, time_t now);

  bool has(const std::string& ident) const { return table_.count(ident) != 0; }

  // Drops entries with no open connection whose time unit has passed.
  void expire(time_t now);
  size_t size() const { return table_.size(); }

  // The statistics lines (without "statistics: ") for the maxima seen
  // since the last call, which resets them. Times use "%b %e %H:%M:%S".
  std::vector<std::string> statistics();

 private:
  struct Max {
    int value = 0;
    std::string ident;
    time_t when = 0;
    void update(int v, const std::string& id, time_t now) {
      if (v > value) value = v, ident = id, when = now;
    }
  };
  AnvilEntry& entry(const std::string& ident, time_t now);

  int unit_;
  std::map<std::string, AnvilEntry> table_;
  Max conn_rate_, conn_count_, mail_rate_, rcpt_rate_, newtls_rate_, auth_rate_;
  size_t max_size_ = 0;
  time_t max_size_when_ = 0;
};

}  // namespace postern
