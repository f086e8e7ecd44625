#include "global/mail_queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include <fmt/format.h>

#include "global/config.h"
#include "global/queue_id.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern {

namespace {
constexpr int kCreateAttempts = 1000;
constexpr int kMaxHashDepth = 16;

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}
}  // namespace

MailQueue::MailQueue(Settings settings) : s_(std::move(settings)) {
  if (s_.hash_depth < 1) s_.hash_depth = 1;
  if (s_.hash_depth > kMaxHashDepth) s_.hash_depth = kMaxHashDepth;
}

Result<MailQueue> MailQueue::from_config(const Config& config) {
  Settings s;
  auto dir = config.expand("queue_directory");
  if (!dir) return std::unexpected(dir.error());
  s.directory = *dir;
  auto depth = config.int_value("hash_queue_depth");
  if (!depth) return std::unexpected(depth.error());
  if (*depth < 1 || *depth > kMaxHashDepth) {
    return fail(Errc::kInvalid, fmt::format("invalid hash_queue_depth: {}", *depth));
  }
  s.hash_depth = static_cast<int>(*depth);
  auto long_ids = config.bool_value("enable_long_queue_ids");
  if (!long_ids) return std::unexpected(long_ids.error());
  s.long_ids = *long_ids;
  auto names = config.expand("hash_queue_names");
  if (!names) return std::unexpected(names.error());
  for (auto name : split(*names)) s.hashed.emplace_back(name);
  return MailQueue(std::move(s));
}

bool MailQueue::is_hashed(std::string_view queue) const {
  for (const auto& h : s_.hashed) {
    if (h == queue) return true;
  }
  return false;
}

std::string MailQueue::relative_dir(std::string_view queue, std::string_view id) const {
  std::string dir(queue);
  if (!is_hashed(queue)) return dir;
  std::string key = queue_id_hash_key(id);
  for (int level = 0; level < s_.hash_depth; ++level) {
    dir += '/';
    dir += static_cast<size_t>(level) < key.size() ? key[static_cast<size_t>(level)] : '_';
  }
  return dir;
}

std::string MailQueue::relative_path(std::string_view queue, std::string_view id) const {
  return relative_dir(queue, id) + "/" + std::string(id);
}

std::string MailQueue::path(std::string_view queue, std::string_view id) const {
  return s_.directory + "/" + relative_path(queue, id);
}

std::string MailQueue::new_id(long sec, long usec, ino_t inode) const {
  return s_.long_ids ? make_long_queue_id(sec, usec, inode) : make_short_queue_id(usec, inode);
}

Status MailQueue::make_dirs(const std::string& rel_dir) const {
  // Creates each missing level below the queue itself (hash subdirectories).
  size_t pos = rel_dir.find('/');
  while (pos != std::string::npos) {
    size_t next = rel_dir.find('/', pos + 1);
    std::string part = s_.directory + "/" + rel_dir.substr(0, next);
    if (::mkdir(part.c_str(), 0700) < 0 && errno != EEXIST) return sys_fail("create directory " + part);
    pos = next;
  }
  return {};
}

Result<MailQueue::NewFile> MailQueue::create(std::string_view queue, mode_t mode) const {
  std::string top = s_.directory + "/" + std::string(queue);
  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    struct timeval tv;
    ::gettimeofday(&tv, nullptr);
    std::string temp = fmt::format("{}/{}.{}", top, tv.tv_usec, ::getpid());
    UniqueFd fd(::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!fd) {
      if (errno == EEXIST) continue;  // another writer in this process, same microsecond
      return sys_fail("create file " + temp);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) < 0) {
      auto err = sys_error("fstat " + temp);
      ::unlink(temp.c_str());
      return std::unexpected(err);
    }
    std::string id = new_id(tv.tv_sec, tv.tv_usec, st.st_ino);
    std::string rel_dir = relative_dir(queue, id);
    std::string final_path = s_.directory + "/" + rel_dir + "/" + id;
    int rc = ::link(temp.c_str(), final_path.c_str());
    if (rc < 0 && errno == ENOENT && rel_dir != queue) {
      if (auto st2 = make_dirs(rel_dir); !st2) {
        ::unlink(temp.c_str());
        return std::unexpected(st2.error());
      }
      rc = ::link(temp.c_str(), final_path.c_str());
    }
    int saved = errno;
    ::unlink(temp.c_str());
    if (rc < 0) {
      if (saved == EEXIST) continue;  // an old file with this name: new time, new ID
      return std::unexpected(sys_error("link " + temp + " to " + final_path, saved));
    }
    return NewFile{std::move(fd), std::move(id), std::move(final_path)};
  }
  return fail(Errc::kTemporary, fmt::format("cannot create a unique file in queue {}", queue));
}

Status MailQueue::move(std::string_view from, std::string_view to, std::string_view id) const {
  if (!valid_queue_id(id)) return fail(Errc::kInvalid, fmt::format("bad queue ID: {}", id));
  std::string src = path(from, id);
  std::string rel_dir = relative_dir(to, id);
  std::string dst = s_.directory + "/" + rel_dir + "/" + std::string(id);
  if (::rename(src.c_str(), dst.c_str()) == 0) return {};
  if (errno != ENOENT) return sys_fail(fmt::format("rename {} to {}", src, dst));
  if (!exists(src)) return fail(Errc::kNotFound, fmt::format("{}: no such file in queue {}", id, from));
  if (auto st = make_dirs(rel_dir); !st) return st;
  if (::rename(src.c_str(), dst.c_str()) < 0) return sys_fail(fmt::format("rename {} to {}", src, dst));
  return {};
}

Status MailQueue::remove(std::string_view queue, std::string_view id) const {
  if (!valid_queue_id(id)) return fail(Errc::kInvalid, fmt::format("bad queue ID: {}", id));
  std::string p = path(queue, id);
  if (::unlink(p.c_str()) < 0) return sys_fail("remove " + p);
  return {};
}

Status MailQueue::save_corrupt(std::string_view queue, std::string_view id) const {
  log::warn("saving corrupt file \"{}\" from queue \"{}\" to queue \"corrupt\"", id, queue);
  return move(queue, "corrupt", id);
}

namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// Visits queue files under `rel` (a queue or one of its hash
// subdirectories). Returns false when the visitor asked to stop.
Result<bool> scan_dir(const std::string& top, const std::string& rel, int depth_left,
                      const std::function<bool(const std::string&, const std::string&)>& visit) {
  std::string dir_path = top + "/" + rel;
  std::unique_ptr<DIR, DirCloser> dir(::opendir(dir_path.c_str()));
  if (!dir) return sys_fail("open directory " + dir_path);
  while (struct dirent* e = ::readdir(dir.get())) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      if (::lstat((dir_path + "/" + name).c_str(), &st) < 0) continue;
      is_dir = S_ISDIR(st.st_mode);
    }
    if (is_dir) {
      // Hash subdirectories have one-character names.
      if (name.size() != 1 || depth_left <= 0) continue;
      auto more = scan_dir(top, rel + "/" + name, depth_left - 1, visit);
      if (!more) {
        if (more.error().code == Errc::kNotFound) continue;  // removed meanwhile
        return more;
      }
      if (!*more) return false;
      continue;
    }
    if (!valid_queue_id(name)) continue;  // temporary files have a '.'
    if (!visit(name, rel + "/" + name)) return false;
  }
  return true;
}

}  // namespace

Status MailQueue::scan(std::string_view queue,
                       const std::function<bool(const std::string&, const std::string&)>& visit) const {
  int depth = is_hashed(queue) ? kMaxHashDepth : 0;
  auto r = scan_dir(s_.directory, std::string(queue), depth, visit);
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::vector<std::string>> MailQueue::scan(std::string_view queue) const {
  std::vector<std::string> ids;
  auto st = scan(queue, [&](const std::string& id, const std::string&) {
    ids.push_back(id);
    return true;
  });
  if (!st) return std::unexpected(st.error());
  return ids;
}

std::optional<std::string> MailQueue::find(std::string_view id,
                                           std::span<const std::string_view> queues) const {
  if (!valid_queue_id(id)) return std::nullopt;
  for (auto q : queues) {
    if (exists(path(q, id))) return std::string(q);
  }
  return std::nullopt;
}

}  // namespace postern
