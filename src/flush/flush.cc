// flush: the fast flush service (public/flush) for fast_flush_domains.
// It keeps, per destination site, a log flush/<site> of the queue IDs of
// mail deferred for that site; `postqueue -s site` and SMTP ETRN ask it to
// deliver them now: each listed message still in deferred/ gets its time
// stamps reset and the flush flag (S_IRGRP) set, moves to incoming/, and
// qmgr is told to scan incoming. Requests and replies: flush_client.h.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <dirent.h>
#include <utime.h>

#include "flush/flush_client.h"
#include "global/attr.h"
#include "global/mail_queue.h"
#include "global/mail_server.h"
#include "global/queue_file.h"
#include "global/queue_id.h"
#include "global/trigger.h"
#include "util/stream.h"
#include "util/strings.h"

using namespace postern;

namespace {

// A site name usable as a file name under flush/.
bool valid_site(std::string_view site) {
  if (site.empty() || site.size() > 255 || site.front() == '.') return false;
  for (char c : site)
    if (c == '/' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  return true;
}

// Makes one deferred message deliverable now; true when it is still queued.
bool flush_one(const MailQueue& queue, const std::string& id) {
  std::string path = queue.path("deferred", id);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    ::utime(path.c_str(), nullptr);
    ::chmod(path.c_str(), (st.st_mode & 07777) | kQueueModeFlush);
    if (auto r = queue.move("deferred", "incoming", id); !r)
      log::warn("{}", r.error().text);
    return true;
  }
  for (auto q : {"incoming", "active", "hold"})
    if (::access(queue.path(q, id).c_str(), F_OK) == 0) return true;
  return false;
}

void wake_qmgr(const ServiceContext& ctx) {
  std::string qmgr = ctx.cfg().get("qmgr_service_name");
  if (qmgr.empty()) qmgr = "qmgr";
  const char req[] = {kTriggerScanIncoming};
  if (auto r = mail_trigger(".", "public", qmgr,
                            std::string_view(req, 1));
      !r)
    log::warn("{}", r.error().text);
}

// Opens and locks flush/<site>; an invalid descriptor when it cannot.
UniqueFd open_log(const MailQueue& queue, const std::string& site, bool create) {
  std::string path = queue.directory() + "/flush/" + site;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600));
  if (!fd) {
    if (errno != ENOENT) log::warn("open {}: {}", path, std::strerror(errno));
    return fd;
  }
  if (::flock(fd.get(), LOCK_EX) < 0) log::warn("lock {}: {}", path, std::strerror(errno));
  return fd;
}

int add(const MailQueue& queue, const std::string& site, const std::string& id) {
  UniqueFd fd = open_log(queue, site, true);
  if (!fd) return kFlushFail;
  ::lseek(fd.get(), 0, SEEK_END);
  if (!write_all(fd.get(), id + "\n")) return kFlushFail;
  return kFlushOk;
}

int send_site(ServiceContext& ctx, const MailQueue& queue, const std::string& site) {
  UniqueFd fd = open_log(queue, site, false);
  if (!fd) return kFlushOk;  // nothing logged for this site
  std::string text;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && text.size() < (64u << 20))
    text.append(buf, static_cast<size_t>(n));
  std::set<std::string> seen;
  std::string keep;
  for (auto id : split(text, "\n")) {
    std::string s(trim(id));
    if (!valid_queue_id(s) || !seen.insert(s).second) continue;
    if (flush_one(queue, s)) keep += s + "\n";
  }
  if (::ftruncate(fd.get(), 0) == 0) {
    ::lseek(fd.get(), 0, SEEK_SET);
    (void)write_all(fd.get(), keep);
  }
  wake_qmgr(ctx);
  return kFlushOk;
}

// Flushes every site log (purge), or only those older than
// fast_flush_refresh_time (refresh); removes empty logs older than
// fast_flush_purge_time.
int flush_all(ServiceContext& ctx, const MailQueue& queue, bool everything) {
  std::string dir = queue.directory() + "/flush";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return kFlushOk;
  std::vector<std::string> sites;
  while (struct dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') sites.emplace_back(e->d_name);
  ::closedir(d);
  time_t now = ::time(nullptr);
  long long refresh = ctx.cfg().get_time("fast_flush_refresh_time");
  long long purge = ctx.cfg().get_time("fast_flush_purge_time");
  for (const auto& site : sites) {
    struct stat st;
    std::string path = dir + "/" + site;
    if (::stat(path.c_str(), &st) < 0 || !S_ISREG(st.st_mode)) continue;
    if (st.st_size == 0 && now - st.st_mtime > purge) {
      ::unlink(path.c_str());
      continue;
    }
    if (everything || now - st.st_mtime > refresh) send_site(ctx, queue, site);
  }
  return kFlushOk;
}

// The queues relative to the working directory (the queue directory), so
// that a chrooted flush service (master.cf) works too.
std::optional<MailQueue> local_queue(const ServiceContext& ctx) {
  auto q = MailQueue::from_config(ctx.cfg());
  if (!q) {
    log::warn("{}", q.error().text);
    return std::nullopt;
  }
  MailQueue::Settings s = q->settings();
  s.directory = ".";
  return MailQueue(s);
}

int handle(const AttrList& req, ServiceContext& ctx) {
  auto queue = local_queue(ctx);
  if (!queue) return kFlushFail;
  std::string_view request = req.str("request");
  std::string site = lowercase(req.str("site"));
  std::string id(req.str("queue_id"));
  if (request == "add" || request == "send_site") {
    if (!valid_site(site)) {
      log::warn("bad site name: \"{}\"", printable(site));
      return kFlushBad;
    }
    if (!flush_site_eligible(ctx.cfg(), site)) return kFlushDeny;
    if (request == "send_site") return send_site(ctx, *queue, site);
    if (!valid_queue_id(id)) return kFlushBad;
    return add(*queue, site, id);
  }
  if (request == "send_file") {
    if (!valid_queue_id(id)) return kFlushBad;
    flush_one(*queue, id);
    wake_qmgr(ctx);
    return kFlushOk;
  }
  if (request == "refresh") return flush_all(ctx, *queue, false);
  if (request == "purge") return flush_all(ctx, *queue, true);
  log::warn("unrecognized request: \"{}\"", printable(request));
  return kFlushBad;
}

void serve(UniqueFd fd, ServiceContext& ctx) {
  Stream s = Stream::from_fd(std::move(fd));
  s.set_timeout(std::chrono::seconds(ctx.ipc_timeout()));
  attr_write(s, AttrEncoding::kNul, AttrList{{"protocol", std::string(kFlushProtocol)}});
  if (!s.flush()) return;
  auto req = attr_read(s, AttrEncoding::kNul);
  if (!req) {
    // master's periodic wakeup ("W") lands here: time for a refresh.
    if (auto queue = local_queue(ctx)) flush_all(ctx, *queue, false);
    return;
  }
  int status = handle(*req, ctx);
  attr_write(s, AttrEncoding::kNul, AttrList{{"status", std::to_string(status)}});
  (void)s.flush();
}

}  // namespace

int main(int argc, char** argv) {
  return single_server_main(argc, argv, "flush", serve);
}
