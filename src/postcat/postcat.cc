// postcat: prints queue files in human-readable form (postcat(1)).
//
//   postcat [-bdehoqrv] [-c config_dir] [-s offset] [files...]
//
// With -q the arguments are queue IDs, looked up in maildrop, incoming,
// active, deferred, hold and saved; without files, standard input is read.
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "global/config.h"
#include "global/mail_queue.h"
#include "global/queue_id.h"
#include "postcat/postcat.h"
#include "util/log.h"
#include "util/strings.h"
#include "util/unique_fd.h"

using namespace postern;
using namespace postern::postcat;

namespace {

[[noreturn]] void usage() {
  log::fatal("usage: postcat [-b (body text)] [-c config_dir] [-d (decimal record type)] "
             "[-e (envelope records)] [-h (header text)] [-q (access queue)] [-v] [file(s)...]");
}

// Opens queue ID `id` in the first search queue that has it; `rel` gets
// its path relative to the queue directory (the current directory).
UniqueFd open_queue_file(const MailQueue& queue, const std::string& id, std::string* rel) {
  if (!valid_queue_id(id)) log::fatal("bad mail queue ID: {}", id);
  int err = ENOENT;
  for (auto q : kSearchQueues) {
    std::string path = queue.relative_path(q, id);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) {
      *rel = path;
      return fd;
    }
    if (errno != ENOENT) err = errno;
  }
  log::fatal("open queue file {}: {}", id, std::strerror(err));
}

}  // namespace

int main(int argc, char** argv) {
  log::init("postcat", argv[0]);  // Postfix prefixes stderr lines with argv[0] as given
  log::disable_syslog();
  Options opts;
  std::string config_dir;
  bool by_queue_id = false;
  opterr = 0;
  int c;
  while ((c = ::getopt(argc, argv, "+bc:dehoqrs:v")) != -1) {
    switch (c) {
      case 'b': opts.body = true; break;
      case 'c': config_dir = optarg; break;
      case 'd': opts.dec_types = true; break;
      case 'e': opts.envelope = true; break;
      case 'h': opts.header = true; break;
      case 'o': opts.offsets = true; break;
      case 'q': by_queue_id = true; break;
      case 'r': opts.raw = true; break;
      case 's': {
        auto v = parse_long(optarg);
        if (!v || *v < 0) log::fatal("bad offset: {}", optarg);
        opts.start = static_cast<long>(*v);
        break;
      }
      case 'v':
        opts.verbose = true;
        log::increase_verbose();
        break;
      default:
        std::fprintf(stderr, "%s: invalid option -- '%c'\n", argv[0], optopt);
        usage();
    }
  }
  if (!opts.envelope && !opts.header && !opts.body) opts.envelope = opts.header = opts.body = true;

  if (config_dir.empty()) config_dir = default_config_directory();
  auto cfg = Config::load(config_dir);
  if (!cfg) log::fatal("{}", cfg.error().text);

  if (by_queue_id) {
    auto queue = MailQueue::from_config(*cfg);
    if (!queue) log::fatal("{}", queue.error().text);
    if (::chdir(queue->directory().c_str()) < 0) {
      log::fatal("chdir {}: {}", queue->directory(), std::strerror(errno));
    }
    for (int i = optind; i < argc; ++i) {
      std::string rel;
      UniqueFd fd = open_queue_file(*queue, argv[i], &rel);
      print_queue_file(fd.get(), rel, opts);
    }
  } else if (optind < argc) {
    for (int i = optind; i < argc; ++i) {
      UniqueFd fd(::open(argv[i], O_RDONLY | O_CLOEXEC));
      if (!fd) log::fatal("open {}: {}", argv[i], std::strerror(errno));
      print_queue_file(fd.get(), argv[i], opts);
    }
  } else {
    print_queue_file(STDIN_FILENO, "stdin", opts);
  }
  std::fflush(stdout);
  return 0;
}
