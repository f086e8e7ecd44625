// queue_file_writer: writes one queue file with Postern's queue library.
// Test-only (tests/system/test_postcat.py).
//
//   queue_file_writer [options] QUEUE_DIR QUEUE < message
//     -s sender     envelope sender (default empty = null sender)
//     -f fullname   F record
//     -a name=value A record (repeatable; written before the sender)
//     -r rcpt[=orig] recipient, with an O record when orig is given (repeatable)
//     -d N          mark the N-th recipient (0-based) done after commit
//     -t sec        arrival time (default: now)
//     -l            long queue IDs
//     -m            maildrop format: no size record, no O records
//
// The message is read from standard input, one line per N record (LF or
// CRLF endings removed). Prints "ID PATH" on success.
#include <getopt.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "global/mail_queue.h"
#include "global/queue_file.h"

using namespace postern;

int main(int argc, char** argv) {
  std::string sender, fullname;
  bool have_fullname = false, long_ids = false, maildrop = false;
  std::vector<std::pair<std::string, std::string>> attrs;
  std::vector<std::pair<std::string, std::string>> rcpts;
  std::vector<int> done;
  long when = 0;
  int c;
  while ((c = ::getopt(argc, argv, "s:f:a:r:d:t:lm")) != -1) {
    std::string arg = optarg ? optarg : "";
    switch (c) {
      case 's': sender = arg; break;
      case 'f': fullname = arg; have_fullname = true; break;
      case 'a': {
        size_t eq = arg.find('=');
        attrs.emplace_back(arg.substr(0, eq), eq == std::string::npos ? "" : arg.substr(eq + 1));
        break;
      }
      case 'r': {
        size_t eq = arg.find('=');
        rcpts.emplace_back(arg.substr(0, eq), eq == std::string::npos ? "" : arg.substr(eq + 1));
        break;
      }
      case 'd': done.push_back(std::stoi(arg)); break;
      case 't': when = std::stol(arg); break;
      case 'l': long_ids = true; break;
      case 'm': maildrop = true; break;
      default: return 2;
    }
  }
  if (argc - optind != 2) {
    std::fprintf(stderr, "usage: queue_file_writer [options] QUEUE_DIR QUEUE < message\n");
    return 2;
  }
  MailQueue queue({argv[optind], {"deferred", "defer"}, 1, long_ids});
  auto file = queue.create(argv[optind + 1]);
  if (!file) {
    std::fprintf(stderr, "queue_file_writer: %s\n", file.error().text.c_str());
    return 1;
  }
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  if (when == 0) when = tv.tv_sec;

  QueueFileWriter w(file->fd.get());
  if (!maildrop) w.size_record();
  w.time(when, tv.tv_usec);
  if (!maildrop) w.attr("create_time", std::to_string(when));
  for (const auto& [n, v] : attrs) w.attr(n, v);
  if (have_fullname) w.fullname(fullname);
  w.sender(sender);
  std::vector<off_t> offsets;
  for (const auto& [addr, orig] : rcpts) {
    if (!maildrop && !orig.empty()) {
      offsets.push_back(w.recipient(addr, std::string_view(orig)));
    } else {
      offsets.push_back(w.recipient(addr));
    }
  }
  w.message_start();
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    w.content_line(line);
  }
  w.extracted_start();
  w.end();
  if (auto st = w.commit(file->fd.get()); !st) {
    std::fprintf(stderr, "queue_file_writer: %s\n", st.error().text.c_str());
    return 1;
  }
  for (int i : done) {
    if (i < 0 || static_cast<size_t>(i) >= offsets.size()) return 2;
    if (auto st = mark_recipient(file->fd.get(), offsets[static_cast<size_t>(i)]); !st) {
      std::fprintf(stderr, "queue_file_writer: %s\n", st.error().text.c_str());
      return 1;
    }
  }
  std::printf("%s %s\n", file->id.c_str(), file->path.c_str());
  return 0;
}
