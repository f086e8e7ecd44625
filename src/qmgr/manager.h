// The queue manager proper: moves ready queue files into active/, hands
// their recipients to delivery agents grouped by transport and next hop,
// and then removes each file, defers it with back-off, or returns it.
//
// Deliveries run in parallel: each delivery request waits for its agent in
// a worker thread, and results come back to the event loop through a pipe.
// Each destination (transport:nexthop) has its own queue of requests and a
// concurrency window that starts at initial_destination_concurrency and
// grows by one per successful delivery up to
// <transport>_destination_concurrency_limit; so one big mailing cannot
// starve mail for other destinations. A destination that fails as a whole
// is marked dead for a while and its waiting recipients are deferred.
#pragma once

#include <ctime>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "global/config.h"
#include "global/deliver_request.h"
#include "global/deliver_status.h"
#include "global/mail_queue.h"
#include "global/queue_file.h"
#include "global/rewrite_client.h"
#include "util/event_loop.h"
#include "util/unique_fd.h"

namespace postern::qmgr {

struct Settings {
  long min_backoff = 300, max_backoff = 4000, queue_run_delay = 300;
  long max_lifetime = 5 * 86400, bounce_lifetime = 5 * 86400;
  long active_limit = 20000;
  long initial_concurrency = 5;
  long max_running = 100;  // deliveries at once, all transports (default_process_limit)
  std::vector<std::string> defer_transports;
  long dead_time = 60;  // how long a failed destination is left alone
  std::chrono::seconds agent_timeout{3600};
  static Settings from_config(const Config& cfg);
};

class Manager {
 public:
  Manager(const Config& cfg, MailQueue queue, EventLoop& loop);
  ~Manager();

  // Start-up: moves everything in active/ back to incoming/.
  void recover_active();
  // One queue scan: incoming/ (and deferred/ when asked), ignoring time
  // stamps with `all`; ready files move to active/ and their deliveries start.
  void run(bool incoming, bool deferred, bool all);
  // Forgets dead destinations (trigger F).
  void forget_dead() { dead_.clear(); }

  const Settings& settings() const { return s_; }
  // Messages in memory (in active/).
  size_t active_messages() const { return messages_.size(); }

 private:
  struct Message {
    std::string id;
    QueueFileInfo info;
    long mode = 0;
    DeliverRequest base;               // fields every request shares
    std::unique_ptr<StatusReporter> self;  // results qmgr records itself
    UniqueFd fd;
    int pending = 0;                   // requests not yet answered
    bool deferred = false;
  };
  struct Job {
    std::string id;  // message
    DeliverRequest req;
  };
  struct Destination {
    std::deque<Job> waiting;
    int active = 0;
    long window = 1;
    long rate_delay = 0;   // seconds between deliveries (window 1 then)
    time_t next_ok = 0;    // with rate_delay: no new delivery before this
    bool timer = false;    // a dispatch timer is pending for next_ok
  };
  struct Done {
    std::string key;  // empty for a bounce flush
    Job job;
    Result<DeliverReply> reply;
    bool flush_ok = false;
    bool warned = false;  // a delay warning went out
  };

  void load_message(const std::string& id);
  void dispatch();
  void start_job(const std::string& key, Job job);
  void on_done(Done done);
  void drain_done();
  void defer_waiting(const std::string& key, const std::string& why);
  long transport_limit(const std::string& transport, std::string_view suffix,
                       std::string_view fallback) const;
  // Expires and starts the bounce flush (in a worker) when needed, then
  // complete_message() removes or defers the file.
  void finish_message(Message& m);
  void complete_message(Message& m, bool bounces_ok, bool warned);
  void clear_warning_time(Message& m);
  void expire_message(Message& m);
  // nrequest "flush" or "warn" to the bounce service; blocking: runs in a worker.
  bool status_request(const std::string& id, std::string_view nrequest, std::string* why,
                      int flags = 0);
  void post(Done done);
  void remove_logs(const std::string& id);

  const Config& cfg_;
  MailQueue queue_;
  Settings s_;
  EventLoop& loop_;
  RewriteClient rewrite_;
  std::map<std::string, std::unique_ptr<Message>> messages_;
  std::map<std::string, Destination> dests_;
  std::vector<std::string> dest_order_;  // round robin over destinations
  std::map<std::string, std::pair<time_t, std::string>> dead_;  // transport:nexthop
  // Worker threads hand results back through done_ and a byte on the pipe.
  std::mutex done_mutex_;
  std::vector<Done> done_;
  UniqueFd pipe_read_, pipe_write_;
  int running_ = 0;
};

}  // namespace postern::qmgr
