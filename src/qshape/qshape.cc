// qshape(1): the age distribution of queued mail by recipient (or sender,
// -s) domain.
//   qshape [-s] [-p] [-m min_subdomains] [-b bucket_count] [-t bucket_time]
//          [-l] [-w terminal_width] [-N batch_msg_count] [-n batch_top_domains]
//          [-c config_directory] [queue_name ...]
// Queues default to incoming and active; a relative name is taken under
// queue_directory. -N and -n (intermediate results on a terminal) are
// accepted and ignored: the final table is printed once.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "global/config.h"
#include "global/queue_file.h"
#include "qshape/shape.h"
#include "util/log.h"
#include "util/strings.h"

using namespace postern;

namespace {

[[noreturn]] void usage() {
  log::fatal("usage: qshape [-s] [-p] [-m min_subdomains] [-b bucket_count] [-t bucket_time] "
             "[-l] [-w terminal_width] [-N batch_msg_count] [-n batch_top_domains] "
             "[-c config_directory] [queue_name ...]");
}

int number(const char* arg) {
  auto v = parse_long(arg);
  if (!v || *v < 0 || *v > 1000000) usage();
  return static_cast<int>(*v);
}

std::string domain_of(const std::string& addr) {
  size_t at = addr.rfind('@');
  return at == std::string::npos ? addr : addr.substr(at + 1);
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

void scan(const std::string& dir, int depth, bool senders, time_t now, QueueShape& shape) {
  std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
  if (!d) return;
  while (struct dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st;
    if (::lstat(path.c_str(), &st) < 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (depth > 0) scan(path, depth - 1, senders, now, shape);
      continue;
    }
    if (!S_ISREG(st.st_mode)) continue;
    auto info = read_queue_file(path, true);
    if (!info) continue;  // gone, or still being written
    long age = static_cast<long>(now - (info->arrival_sec ? info->arrival_sec : st.st_mtime));
    if (age < 0) age = 0;
    if (senders) {
      if (info->sender.empty()) shape.add("MAILER-DAEMON", age, false);
      else shape.add(domain_of(info->sender), age);
      continue;
    }
    for (const auto& r : info->recipients)
      if (!r.done()) shape.add(domain_of(r.address), age);
  }
}

}  // namespace

int main(int argc, char** argv) {
  log::init("qshape", "qshape");
  log::disable_syslog();
  ShapeOptions o;
  bool senders = false;
  std::string config_dir;
  int c;
  while ((c = ::getopt(argc, argv, "b:c:lm:n:N:pst:w:")) != -1) {
    switch (c) {
      case 'b': o.buckets = number(optarg); break;
      case 'c': config_dir = optarg; break;
      case 'l': o.linear = true; break;
      case 'm': o.min_subdomains = number(optarg); break;
      case 'n': case 'N': (void)number(optarg); break;
      case 'p': o.parents = true; break;
      case 's': senders = true; break;
      case 't': o.bucket_time = number(optarg); break;
      case 'w': o.width = number(optarg); break;
      default: usage();
    }
  }
  if (config_dir.empty()) {
    const char* env = std::getenv("MAIL_CONFIG");
    config_dir = env && *env ? env : default_config_directory();
  }
  auto cfg = Config::load(config_dir);
  if (!cfg) log::fatal("{}", cfg.error().text);
  std::string top = cfg->get("queue_directory");
  std::vector<std::string> queues(argv + optind, argv + argc);
  if (queues.empty()) queues = {"incoming", "active"};
  QueueShape shape(o);
  time_t now = ::time(nullptr);
  for (const auto& q : queues) {
    std::string dir = q.starts_with("/") ? q : top + "/" + q;
    struct stat st;
    if (::stat(dir.c_str(), &st) < 0) {
      log::warn("Can't stat {}: {}", q, std::strerror(errno));
      continue;
    }
    scan(dir, 16, senders, now, shape);
  }
  std::string out = shape.render();
  (void)!::write(STDOUT_FILENO, out.data(), out.size());
  return 0;
}
