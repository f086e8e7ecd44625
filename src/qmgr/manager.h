// The queue manager proper: moves ready queue files into active/, hands
// their recipients to delivery agents grouped by transport and next hop,
// and then removes each file, defers it with back-off, or returns it.
//
// Deliveries run in parallel: each delivery request is a conversation with
// its agent driven by the event loop (agent_call.h); the rarer blocking
// requests (bounce service, fast flush) run in a worker pool whose results
// come back to the event loop through a pipe.
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
#include <set>
#include <string>
#include <vector>

#include "global/config.h"
#include "global/deliver_request.h"
#include "global/deliver_status.h"
#include "global/mail_queue.h"
#include "global/queue_file.h"
#include "global/match_list.h"
#include "global/resolve_reply.h"
#include "global/rewrite_client.h"
#include "qmgr/worker_pool.h"
#include "util/event_loop.h"
#include "util/unique_fd.h"

namespace postern::qmgr {

struct Settings {
  long min_backoff = 300, max_backoff = 4000, queue_run_delay = 300;
  long max_lifetime = 5 * 86400, bounce_lifetime = 5 * 86400;
  long active_limit = 20000;
  long rcpt_limit = 20000;   // qmgr_message_recipient_limit: recipients in memory
  long rcpt_minimum = 10;    // qmgr_message_recipient_minimum: per message slice
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
  // Starts a queue scan of incoming/ (and deferred/ when asked), ignoring
  // time stamps with `all`. Ready files move to active/ a few at a time
  // between deliveries (feed()), within qmgr_message_active_limit and
  // qmgr_message_recipient_limit; a scan asked for while one runs is
  // done again when that one ends.
  void run(bool incoming, bool deferred, bool all);
  // Forgets dead destinations (trigger F).
  void forget_dead() { dead_.clear(); }

  const Settings& settings() const { return s_; }
  // Messages in memory (in active/).
  size_t active_messages() const { return messages_.size(); }
  // Recipients in memory (in the current slices of active messages).
  long recipients_in_memory() const { return rcpts_in_memory_; }

 private:
  struct Message {
    std::string id;
    long arrival_sec = 0;              // T record
    long warning_time = 0;             // W record (0: none)
    long mode = 0;
    DeliverRequest base;               // fields every request shares
    std::unique_ptr<StatusReporter> self;  // results qmgr records itself
    UniqueFd fd;
    int pending = 0;                   // requests not yet answered
    bool deferred = false;
    bool no_bounce_trace = false;      // finish_message() saw no bounce/trace log
    size_t next_rcpt = 0;              // recipient list position of the next slice
    bool more = false;                 // recipients beyond this slice remain
  };
  // One delivery request's own part (the rest is the message's base).
  struct JobRequest {
    std::string transport, nexthop;
    std::vector<DeliverRecipient> recipients;
  };
  struct Job {
    std::string id;  // message
    JobRequest req;
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

  struct Scan {
    std::string queue;
    bool check_due = false;  // deferred/: only files whose time has come
    std::vector<std::string> ids;
    size_t pos = 0;
    bool all = false;
    bool rescan = false, rescan_all = false;
  };
  void start_scan(Scan& sc, bool all);
  // The next file of a scan that is ready, moved to active/; false at the end.
  // `budget` counts files looked at; at 0 the rest waits for the next turn.
  bool next_ready(Scan& sc, time_t now, std::string* id, int* budget);
  bool room() const;
  // Loads a few messages, starts deliveries, and comes back later for more.
  void feed();
  void schedule_feed();
  void load_message(const std::string& id, bool from_deferred);
  // Resolves through trivial-rewrite with a short-lived cache; probes use
  // the verify class.
  Result<ResolveReply> resolve(const std::string& sender, const std::string& address, bool probe);
  // Routes the next slice(s) of recipients of `m` from `qi` (the queue file
  // open as `fd`); stops at the first slice that queues a delivery.
  void load_slice(Message& m, const QueueFileInfo& qi, int fd);
  // A delivery request of `m` is over: the next slice, or the end.
  void job_done(Message& m, size_t recipients);
  // Tells the fast flush service about deferred recipients (in a worker).
  void notify_flush(const std::string& id, const std::vector<DeliverRecipient>& rcpts);
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
  void remove_logs(const std::string& id, bool bounce_trace);

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
  long rcpts_in_memory_ = 0;
  long waiting_jobs_ = 0;  // delivery requests queued for an agent
  Scan incoming_scan_, deferred_scan_;
  bool feed_scheduled_ = false;
  std::optional<MatchList> flush_domains_;
  std::map<std::string, bool> flush_eligible_;
  std::set<std::string> recovered_;  // moved from active/ at start-up
  mutable std::map<std::string, long> limits_;  // <transport>_..._limit values
  std::map<std::string, std::pair<time_t, ResolveReply>> resolved_;
  WorkerPool pool_;
};

}  // namespace postern::qmgr
