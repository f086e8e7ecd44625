// The queue manager proper: moves ready queue files into active/, hands
// their recipients to delivery agents grouped by transport and next hop,
// and then removes the file, defers it with back-off, or returns it.
//
// Delivery is one request at a time (no parallel agents yet): a queue run
// works through the active queue message by message.
#pragma once

#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "global/config.h"
#include "global/deliver_request.h"
#include "global/mail_queue.h"
#include "global/queue_file.h"
#include "global/rewrite_client.h"

namespace postern::qmgr {

struct Settings {
  long min_backoff = 300, max_backoff = 4000, queue_run_delay = 300;
  long max_lifetime = 5 * 86400, bounce_lifetime = 5 * 86400;
  long active_limit = 20000;
  std::vector<std::string> defer_transports;
  long dead_time = 60;  // how long a failed destination is left alone
  std::chrono::seconds agent_timeout{3600};
  static Settings from_config(const Config& cfg);
};

class Manager {
 public:
  Manager(const Config& cfg, MailQueue queue);

  // Start-up: moves everything in active/ back to incoming/.
  void recover_active();
  // One queue run: incoming/ (and deferred/ when asked), ignoring time
  // stamps with `all`.
  void run(bool incoming, bool deferred, bool all);
  // Forgets dead destinations (trigger F).
  void forget_dead() { dead_.clear(); }

  const Settings& settings() const { return s_; }

 private:
  void deliver_message(const std::string& id);
  long recipient_limit(const std::string& transport) const;
  void finish_message(const std::string& id, const QueueFileInfo& info, bool deferred);
  void expire_message(const std::string& id, int fd, const QueueFileInfo& info);
  bool flush_bounces(const std::string& id);
  void remove_logs(const std::string& id);

  const Config& cfg_;
  MailQueue queue_;
  Settings s_;
  RewriteClient rewrite_;
  std::map<std::string, std::pair<time_t, std::string>> dead_;  // transport:nexthop
};

}  // namespace postern::qmgr
