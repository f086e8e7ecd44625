#include "postfix/postfix_dirs.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "global/queue_dirs.h"
#include "util/process.h"

namespace postern {
namespace {

namespace fs = std::filesystem;

struct Want {
  uid_t uid;
  gid_t gid;
  mode_t mode;
};

Want wanted(const QueueDirSpec& spec, const InstanceOwners& o) {
  switch (spec.owner) {
    case QueueDirOwner::kRoot: return {o.root_uid, o.root_gid, spec.mode};
    case QueueDirOwner::kMailOwner: return {o.mail_uid, o.mail_gid, spec.mode};
    case QueueDirOwner::kPostdrop: return {o.mail_uid, o.setgid_gid, spec.mode};
  }
  return {o.root_uid, o.root_gid, spec.mode};
}

Status ensure_dir(const std::string& path, const Want& w, bool fix_existing) {
  struct stat st;
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && !S_ISDIR(st.st_mode)) return fail(Errc::kInvalid, path + ": not a directory");
  if (!exists) {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) return fail(Errc::kIo, "mkdir " + path + ": " + ec.message());
  }
  if (!exists || fix_existing) {
    bool root = ::geteuid() == 0;
    if (root && ::chown(path.c_str(), w.uid, w.gid) < 0) return sys_fail("chown " + path);
    if (::chmod(path.c_str(), w.mode) < 0) return sys_fail("chmod " + path);
  }
  return {};
}

}  // namespace

Result<InstanceOwners> resolve_owners(const Config& cfg) {
  InstanceOwners o;
  if (::geteuid() != 0) {
    auto me = lookup_uid(::geteuid());
    o.root_name = me ? me->name : std::to_string(::geteuid());
    o.root_uid = o.mail_uid = ::geteuid();
    o.root_gid = o.mail_gid = o.setgid_gid = ::getegid();
    o.mail_owner = o.root_name;
    group* g = ::getgrgid(::getegid());
    o.setgid_group = g ? g->gr_name : std::to_string(::getegid());
    return o;
  }
  o.root_name = "root";
  o.mail_owner = cfg.get("mail_owner");
  auto user = lookup_user(o.mail_owner);
  if (!user)
    return fail(Errc::kInvalid, fmt::format("file {}: parameter mail_owner: unknown user name value: {}",
                                            cfg.main_cf_path(), o.mail_owner));
  if (user->uid == 0)
    return fail(Errc::kInvalid,
                fmt::format("file {}: parameter mail_owner: user {} has the same user ID as root",
                            cfg.main_cf_path(), o.mail_owner));
  o.mail_uid = user->uid;
  o.mail_gid = user->gid;
  o.setgid_group = cfg.get("setgid_group");
  auto gid = lookup_group(o.setgid_group);
  if (!gid)
    return fail(Errc::kInvalid, fmt::format("file {}: parameter setgid_group: unknown group name: {}",
                                            cfg.main_cf_path(), o.setgid_group));
  o.setgid_gid = *gid;
  return o;
}

Status create_queue_directories(const Config& cfg, const InstanceOwners& owners, bool fix_existing) {
  std::string queue_dir = cfg.get("queue_directory");
  // The top first, so that its children are created inside a correct parent.
  for (auto it = kQueueDirs.rbegin(); it != kQueueDirs.rend(); ++it) {
    std::string path = it->name.empty() ? queue_dir : queue_dir + "/" + std::string(it->name);
    if (auto s = ensure_dir(path, wanted(*it, owners), fix_existing); !s) return s;
  }
  std::string data_dir = cfg.get("data_directory");
  return ensure_dir(data_dir, Want{owners.mail_uid, owners.mail_gid, 0700}, fix_existing);
}

std::vector<std::string> check_permissions(const Config& cfg, const InstanceOwners& o) {
  std::vector<std::string> warnings;
  std::string queue_dir = cfg.get("queue_directory");
  auto check_owner = [&](const std::string& path, const struct stat& st, uid_t uid,
                         const std::string& name) {
    if (st.st_uid != uid) warnings.push_back(fmt::format("not owned by {}: {}", name, path));
  };
  auto check_writable = [&](const std::string& path, const struct stat& st, mode_t allowed) {
    if ((st.st_mode & 022) & ~allowed)
      warnings.push_back("group or other writable: " + path);
  };

  for (const QueueDirSpec& spec : kQueueDirs) {
    std::string path = spec.name.empty() ? queue_dir : queue_dir + "/" + std::string(spec.name);
    struct stat st;
    if (::stat(path.c_str(), &st) < 0) {
      warnings.push_back(fmt::format("missing directory: {}", path));
      continue;
    }
    Want w = wanted(spec, o);
    if (spec.owner == QueueDirOwner::kRoot) {
      check_owner(path, st, o.root_uid, o.root_name);
      check_writable(path, st, 0);
      continue;
    }
    check_owner(path, st, o.mail_uid, o.mail_owner);
    check_writable(path, st, w.mode);
    if (spec.owner == QueueDirOwner::kPostdrop && st.st_gid != o.setgid_gid)
      warnings.push_back(fmt::format("not owned by group {}: {}", o.setgid_group, path));
    if (spec.name == "maildrop") continue;  // files there belong to their submitters
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      struct stat fst;
      std::string p = it->path().string();
      if (::lstat(p.c_str(), &fst) < 0 || S_ISSOCK(fst.st_mode) || S_ISFIFO(fst.st_mode)) continue;
      check_owner(p, fst, o.mail_uid, o.mail_owner);
      if (spec.name == "corrupt" && S_ISREG(fst.st_mode))
        warnings.push_back("damaged message: corrupt/" + it->path().filename().string());
    }
  }
  std::string data_dir = cfg.get("data_directory");
  std::error_code ec;
  struct stat dst;
  if (::stat(data_dir.c_str(), &dst) == 0) {
    check_owner(data_dir, dst, o.mail_uid, o.mail_owner);
    check_writable(data_dir, dst, 0);
    for (auto it = fs::recursive_directory_iterator(data_dir, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      struct stat fst;
      std::string p = it->path().string();
      if (::lstat(p.c_str(), &fst) < 0) continue;
      // master.lock is created by master, which runs as root.
      if (it->path().filename() != "master.lock") check_owner(p, fst, o.mail_uid, o.mail_owner);
      check_writable(p, fst, 0);
    }
  }
  for (const char* name : {"main.cf", "master.cf"}) {
    std::string p = cfg.config_dir() + "/" + name;
    struct stat st;
    if (::stat(p.c_str(), &st) < 0) continue;
    check_owner(p, st, o.root_uid, o.root_name);
    check_writable(p, st, 0);
  }
  return warnings;
}

}  // namespace postern
