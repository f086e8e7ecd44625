#include "postsuper/queue_ops.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include <cstring>
#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "global/queue_file.h"
#include "global/rec_type.h"
#include "global/record.h"
#include "global/queue_id.h"
#include "util/log.h"
#include "util/strings.h"
#include "util/unique_fd.h"

namespace postern {

namespace {

constexpr std::string_view kLogQueues[] = {"defer", "bounce", "trace"};
constexpr int kLockWaitSeconds = 60;

bool is_upper_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

}  // namespace

std::vector<std::string> default_queues(SuperOp op) {
  switch (op) {
    case SuperOp::kRelease: return {"hold"};
    case SuperOp::kHold: return {"incoming", "active", "deferred"};
    default: return {"hold", "incoming", "active", "deferred"};
  }
}

bool valid_super_queue(std::string_view name) {
  return name == "maildrop" || name == "incoming" || name == "active" || name == "deferred" ||
         name == "hold";
}

IdArgument parse_id_argument(std::string_view arg) {
  if (arg == "ALL") return {IdArgument::kAll, {}};
  if (arg == "-") return {IdArgument::kStdin, {}};
  return {IdArgument::kOne, std::string(arg)};
}

std::vector<std::string> ids_from_text(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    out.emplace_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

bool well_formed_queue_id(std::string_view name) {
  if (is_long_queue_id(name)) return parse_long_queue_id(name).has_value();
  if (name.size() < 6 || name.size() > kMaxQueueIdLength) return false;
  for (char c : name)
    if (!is_upper_hex(c)) return false;
  return true;
}

std::optional<std::string> name_for_inode(std::string_view name, unsigned long long ino) {
  if (!well_formed_queue_id(name)) return std::nullopt;
  if (auto parts = parse_long_queue_id(name))
    return make_long_queue_id(static_cast<time_t>(parts->sec), parts->usec, static_cast<ino_t>(ino));
  return std::string(name.substr(0, 5)) + fmt::format("{:X}", ino);
}

void QueueOps::remove_logs(const std::string& id) {
  for (auto q : kLogQueues) ::unlink(q_.path(q, id).c_str());
}

void QueueOps::rename_logs(const std::string& from, const std::string& to) {
  for (auto q : kLogQueues) {
    std::string src = q_.path(q, from);
    if (::access(src.c_str(), F_OK) != 0) continue;
    std::string dst = q_.path(q, to);
    std::string dir = dst.substr(0, dst.rfind('/'));
    ::mkdir(dir.c_str(), 0700);
    if (::rename(src.c_str(), dst.c_str()) < 0)
      log::warn("rename {} to {}: {}", src, dst, std::strerror(errno));
  }
}

UniqueFd QueueOps::open_locked(const std::string& queue, const std::string& id) {
  std::string path = q_.path(queue, id);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd || queue != "active") return fd;
  time_t give_up = ::time(nullptr) + kLockWaitSeconds;
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) break;  // no locking here: go ahead
    if (::time(nullptr) > give_up) {
      log::warn("{}: message is being delivered; left alone", id);
      return UniqueFd();
    }
    ::usleep(20000);
  }
  return fd;
}

// Deletes a queue file. In active/, takes the queue file lock first
// (waiting while a queue manager or delivery agent holds it) so that
// nothing delivers the message after it was reported deleted; readers that
// lock a file must check that it still has a link (fstat st_nlink > 0)
// before using it. Elsewhere nothing locks queue files: just unlink.
bool QueueOps::delete_one(const std::string& queue, const std::string& id) {
  std::string path = q_.path(queue, id);
  UniqueFd fd;
  if (queue == "active" && !(fd = open_locked(queue, id))) return false;
  if (::unlink(path.c_str()) < 0) {
    if (errno != ENOENT) log::warn("remove {}: {}", path, std::strerror(errno));
    return false;
  }
  remove_logs(id);
  return true;
}

Status rewrite_as_maildrop(int fd, const std::string& name, int out_fd) {
  RecordReader in(fd, name, 1 << 20, RecordReader::Mode::kFollowPointers);
  RecordWriter out(out_fd);
  std::string time_rec;
  std::vector<Record> envelope;
  int segment = 0;  // 0 envelope, 1 content, 2 extracted
  for (;;) {
    auto r = in.next();
    if (!r) return std::unexpected(Error{r.error().code, name + ": " + r.error().text});
    if (!*r) return fail(Errc::kInvalid, name + ": no end record");
    Record& rec = **r;
    if (segment == 0) {
      switch (rec.type) {
        case rec::kTime: time_rec = rec.data; break;
        case rec::kFullName: case rec::kSender: case rec::kRecipient: case rec::kVerp:
        case rec::kAttr: case rec::kDsnEnvid: case rec::kDsnNotify:
          envelope.push_back(std::move(rec));
          break;
        case rec::kMessage: {
          if (time_rec.empty()) time_rec = fmt::format("{} 0", ::time(nullptr));
          out.put(rec::kTime, time_rec);
          for (const auto& e : envelope) out.put(e.type, e.data);
          out.put(rec::kMessage, "");
          segment = 1;
          break;
        }
        default: break;  // C, W, D, /, O, L, I, >, K, < ...: bookkeeping
      }
    } else if (segment == 1) {
      if (rec.type == rec::kNorm || rec.type == rec::kCont) {
        out.put(rec.type, rec.data);
      } else if (rec.type == rec::kExtracted) {
        out.put(rec::kExtracted, "");
        segment = 2;
      }
    } else {
      if (rec.type == rec::kAttr || rec.type == rec::kRecipient) out.put(rec.type, rec.data);
      if (rec.type == rec::kEnd) {
        out.put(rec::kEnd, "");
        return out.flush();
      }
    }
  }
}

// Requeues through maildrop/: a maildrop file under the same name,
// complete (0700, as Postfix's postsuper leaves it) before the old queue file and
// its logs go away.
bool QueueOps::requeue_one(const std::string& queue, const std::string& id) {
  UniqueFd fd = open_locked(queue, id);
  if (!fd) return false;
  auto file = q_.create("maildrop", 0600);
  if (!file) {
    log::warn("{}", file.error().text);
    return false;
  }
  auto st = rewrite_as_maildrop(fd.get(), q_.relative_path(queue, id), file->fd.get());
  if (st && (::fchmod(file->fd.get(), 0700) < 0 || ::fsync(file->fd.get()) < 0))
    st = sys_fail("finish " + file->path);
  if (!st) {
    log::warn("{}", st.error().text);
    ::unlink(file->path.c_str());
    return false;
  }
  // The message keeps its name in maildrop/, as with Postfix.
  std::string dst = q_.path("maildrop", id);
  if (::link(file->path.c_str(), dst.c_str()) < 0) {
    log::warn("link {} to {}: {}", file->path, dst, std::strerror(errno));
    ::unlink(file->path.c_str());
    return false;
  }
  ::unlink(file->path.c_str());
  if (::unlink(q_.path(queue, id).c_str()) < 0) {
    ::unlink(dst.c_str());
    return false;
  }
  remove_logs(id);
  return true;
}

bool QueueOps::apply(SuperOp op, const std::string& id, const std::vector<std::string>& queues,
                     bool quiet) {
  auto say = [&](std::string_view what) {
    if (!quiet) report_(fmt::format("{}: {}", id, what));
  };
  auto moved = [&](std::string_view from, std::string_view to) {
    auto r = q_.move(from, to, id);
    if (!r && r.error().code != Errc::kNotFound) log::warn("{}", r.error().text);
    return r.has_value();
  };
  for (const auto& queue : queues) {
    std::string path = q_.path(queue, id);
    struct stat st;
    if (::lstat(path.c_str(), &st) < 0 || !S_ISREG(st.st_mode)) continue;
    switch (op) {
      case SuperOp::kDelete:
        if (!delete_one(queue, id)) continue;
        say("removed");
        ++counts_.deleted;
        return true;
      case SuperOp::kHold:
        if (queue == "hold") return false;
        if (!moved(queue, "hold")) continue;
        say("placed on hold");
        ++counts_.held;
        return true;
      case SuperOp::kRelease:
        if (queue != "hold") continue;
        if (!moved("hold", "deferred")) continue;
        ::utime(q_.path("deferred", id).c_str(), nullptr);  // eligible for the next queue run
        say("released from hold");
        ++counts_.released;
        return true;
      case SuperOp::kRequeue:
        if (!requeue_one(queue, id)) continue;
        say("requeued");
        ++counts_.requeued;
        return true;
      case SuperOp::kExpire:
      case SuperOp::kExpireRelease: {
        if (::chmod(path.c_str(), (st.st_mode & 07777) | kQueueModeExpired) < 0) continue;
        say("expired");
        ++counts_.expired;
        if (op == SuperOp::kExpireRelease && queue == "hold" && moved("hold", "deferred")) {
          ::utime(q_.path("deferred", id).c_str(), nullptr);
          say("released from hold");
          ++counts_.released;
        }
        return true;
      }
    }
  }
  return false;
}

void QueueOps::apply_all(SuperOp op, const std::vector<std::string>& queues) {
  for (const auto& queue : queues) {
    auto ids = q_.scan(queue);
    if (!ids) continue;
    for (const auto& id : *ids) apply(op, id, {queue}, true);
  }
}

namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// Every regular file under `rel` (one level of hash subdirectories deep
// per `depth`), as paths relative to the queue directory.
void list_files(const std::string& top, const std::string& rel, int depth,
                std::vector<std::string>& out) {
  std::unique_ptr<DIR, DirCloser> dir(::opendir((top + "/" + rel).c_str()));
  if (!dir) return;
  std::vector<std::string> subdirs;
  while (struct dirent* e = ::readdir(dir.get())) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::lstat((top + "/" + rel + "/" + name).c_str(), &st) < 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (depth > 0 && name.size() == 1) subdirs.push_back(rel + "/" + name);
    } else if (S_ISREG(st.st_mode)) {
      out.push_back(rel + "/" + name);
    }
  }
  for (const auto& d : subdirs) list_files(top, d, depth - 1, out);
}

bool temp_name(std::string_view name) {
  size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (i != dot && !(name[i] >= '0' && name[i] <= '9')) return false;
  return true;
}

}  // namespace

long QueueOps::check_structure(bool purge_temp, bool fix) {
  long renamed = 0;
  time_t now = ::time(nullptr);
  const std::string& top = q_.directory();
  for (std::string_view queue : {"maildrop", "incoming", "active", "deferred", "hold"}) {
    std::vector<std::string> files;
    list_files(top, std::string(queue), q_.is_hashed(queue) ? 16 : 0, files);
    for (const auto& rel : files) {
      std::string name = rel.substr(rel.rfind('/') + 1);
      std::string path = top + "/" + rel;
      struct stat st;
      if (::lstat(path.c_str(), &st) < 0) continue;
      if (temp_name(name) && purge_temp && now - st.st_mtime > 24 * 3600 &&
          now - st.st_ctime > 24 * 3600) {
        if (::unlink(path.c_str()) == 0) continue;
      }
      if (!well_formed_queue_id(name) || queue == "maildrop") {
        if (!well_formed_queue_id(name)) log::warn("bogus file name: {}", rel);
        continue;
      }
      if (!fix) continue;
      std::string want = *name_for_inode(name, st.st_ino);
      std::string want_rel = q_.relative_path(queue, want);
      if (want_rel == rel) continue;
      std::string dst = top + "/" + want_rel;
      std::string dir = dst.substr(0, dst.rfind('/'));
      ::mkdir(dir.c_str(), 0700);
      if (::access(dst.c_str(), F_OK) == 0 || ::rename(path.c_str(), dst.c_str()) < 0) {
        log::warn("rename {} to {}: {}", rel, want_rel,
                  errno ? std::strerror(errno) : "destination exists");
        continue;
      }
      if (want != name) {
        rename_logs(name, want);
        ++renamed;
      }
    }
  }
  return renamed;
}

}  // namespace postern
