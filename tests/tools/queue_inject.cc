// queue-inject: writes a queue file into incoming/ the way cleanup does and
// (unless -n) wakes qmgr, so delivery can be tested without cleanup/smtpd.
//   queue-inject -c CONFIG_DIR [-f SENDER] [-F FILTER] [-w WARN_AFTER_SECONDS] [-n] [-N COUNT] [-S] [-q QUEUE] RCPT... < message
// Prints the queue ID. Run as root, the file is given to mail_owner.
// -N COUNT writes COUNT copies (for benchmarks); "%n" in a recipient
// becomes the copy's number modulo 100. -S asks for NOTIFY=SUCCESS.
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "global/config.h"
#include "global/mail_queue.h"
#include "global/queue_file.h"
#include "global/trigger.h"
#include "util/process.h"

using namespace postern;

int main(int argc, char** argv) {
  std::string config_dir, sender, queue_name = "incoming", filter;
  bool trigger = true;
  long warn_after = -1;
  long count = 1;
  bool notify_success = false;
  int opt;
  while ((opt = ::getopt(argc, argv, "c:f:F:nN:q:Sw:")) != -1) {
    switch (opt) {
      case 'c': config_dir = optarg; break;
      case 'f': sender = optarg; break;
      case 'F': filter = optarg; break;
      case 'n': trigger = false; break;
      case 'S': notify_success = true; break;
      case 'N': count = std::atol(optarg); break;
      case 'w': warn_after = std::atol(optarg); break;
      case 'q': queue_name = optarg; break;
      default:
        std::cerr << "usage: queue-inject -c DIR [-f SENDER] [-n] [-q QUEUE] RCPT...\n";
        return 2;
    }
  }
  std::vector<std::string> rcpts(argv + optind, argv + argc);
  if (config_dir.empty() || rcpts.empty()) {
    std::cerr << "queue-inject: need -c and at least one recipient\n";
    return 2;
  }
  auto cfg = Config::load(config_dir);
  if (!cfg) {
    std::cerr << "queue-inject: " << cfg.error().text << "\n";
    return 1;
  }
  auto queue = MailQueue::from_config(*cfg);
  if (!queue) {
    std::cerr << "queue-inject: " << queue.error().text << "\n";
    return 1;
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(std::cin, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  for (long n = 0; n < count; ++n) {
    auto file = queue->create(queue_name);
    if (!file) {
      std::cerr << "queue-inject: " << file.error().text << "\n";
      return 1;
    }
    struct timeval tv;
    ::gettimeofday(&tv, nullptr);
    QueueFileWriter w(file->fd.get());
    w.size_record();
    w.time(tv.tv_sec, tv.tv_usec);
    w.attr("create_time", std::to_string(tv.tv_sec));
    w.attr("rewrite_context", "local");
    if (!filter.empty()) w.record('L', filter);
    if (warn_after >= 0) w.warning_time(tv.tv_sec + warn_after);
    w.sender(sender);
    for (auto r : rcpts) {
      if (auto p = r.find("%n"); p != std::string::npos) r.replace(p, 2, std::to_string(n % 100));
      if (notify_success) w.attr("notify_flags", "2");
      w.attr("dsn_orig_rcpt", "rfc822;" + r);
      w.recipient(r, r);
    }
    w.message_start();
    long length = 0;
    for (const auto& line : lines) {
      length += static_cast<long>(line.size()) + 1;
      w.content_line(line);
    }
    w.set_content_length(length);
    w.extracted_start();
    w.end();
    if (::geteuid() == 0) {
      if (auto u = lookup_user(cfg->get("mail_owner")); u)
        (void)::fchown(file->fd.get(), u->uid, u->gid);
    }
    if (auto s = w.commit(file->fd.get()); !s) {
      std::cerr << "queue-inject: " << s.error().text << "\n";
      (void)::unlink(file->path.c_str());
      return 1;
    }
    if (count == 1) std::cout << file->id << std::endl;
  }
  if (trigger && queue_name == "incoming")
    (void)mail_trigger(queue->directory(), "public", "qmgr", "I");
  return 0;
}
