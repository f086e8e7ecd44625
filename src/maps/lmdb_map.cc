// lmdb: tables in one LMDB file (NAME.lmdb), as Postfix's postfix-lmdb
// writes them: no subdirectory, no LMDB lock file (writers flock the file
// themselves), the unnamed database, keys and values with a trailing NUL.
// A full map is grown (doubled) and the write retried.
#include <lmdb.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "maps/file_lock.h"
#include "maps/openers.h"

namespace postern::maps {
namespace {

constexpr size_t kDefaultMapSize = 16777216;  // lmdb_map_size

class LmdbMap final : public Map {
 public:
  using Map::Map;
  ~LmdbMap() override {
    if (txn_) mdb_txn_abort(txn_);
    if (env_) mdb_env_close(env_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
    if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
  }

  Status open() {
    path_ = map_file_path(type_, name_);
    create_ = flags_ & kCreate;
    write_ = create_ || (flags_ & kWrite);
    std::string open_path = path_;
    if (create_) {
      tmp_path_ = temp_path_for(path_);
      ::unlink(tmp_path_.c_str());
      open_path = tmp_path_;
    }
    if (write_) {
      lock_fd_ = ::open(open_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, new_file_mode());
      if (lock_fd_ < 0)
        return fail(errno == ENOENT ? Errc::kNotFound : Errc::kIo,
                    "open database " + path_ + ": " + std::strerror(errno));
      if (::flock(lock_fd_, LOCK_EX) != 0)
        return fail(Errc::kIo, "lock database " + path_ + ": " + std::strerror(errno));
      if (create_) ::fchmod(lock_fd_, new_file_mode());
      if (!(flags_ & (kTryNull | kTryNoNull))) flags_ |= kTryNull;
    } else {
      struct stat st {};
      if (::stat(path_.c_str(), &st) != 0)
        return fail(errno == ENOENT ? Errc::kNotFound : Errc::kIo,
                    "open database " + path_ + ": " + std::strerror(errno));
    }
    int rc = mdb_env_create(&env_);
    if (rc == 0) {
      map_size_ = kDefaultMapSize;
      struct stat st {};
      if (::stat(open_path.c_str(), &st) == 0 && size_t(st.st_size) > map_size_)
        map_size_ = size_t(st.st_size);
      rc = mdb_env_set_mapsize(env_, map_size_);
    }
    if (rc == 0) {
      unsigned env_flags = MDB_NOSUBDIR | MDB_NOLOCK | (write_ ? 0 : MDB_RDONLY);
      rc = mdb_env_open(env_, open_path.c_str(), env_flags, new_file_mode());
    }
    if (rc == 0) rc = begin();
    if (rc == 0) rc = mdb_dbi_open(txn_, nullptr, 0, &dbi_);
    if (rc != 0) return fail(Errc::kInvalid, "open database " + path_ + ": " + mdb_strerror(rc));
    if (!write_) {
      watch_file(path_);
      warn_if_older_than_source(path_, name_);
      // Readers take a fresh snapshot per lookup (renew/reset) under a
      // shared flock, so in-place updates by postmap -i are seen safely.
      mdb_txn_reset(txn_);
      if (mdb_env_get_fd(env_, &read_fd_) != 0) read_fd_ = -1;
    }
    return {};
  }

  Status sequence(const std::function<bool(std::string_view, std::string_view)>& visit) override {
    SharedLookupLock lock(write_ ? -1 : read_fd_);
    if (!write_) {
      int rc = mdb_txn_renew(txn_);
      if (rc != 0) return fail(Errc::kIo, "database " + path_ + ": " + mdb_strerror(rc));
    }
    struct Reset {
      MDB_txn* txn;
      bool active;
      ~Reset() {
        if (active) mdb_txn_reset(txn);
      }
    } reset{txn_, !write_};
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(txn_, dbi_, &cursor);
    if (rc != 0) return fail(Errc::kIo, "database " + path_ + ": " + mdb_strerror(rc));
    MDB_val k, v;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      if (!visit(strip(k), strip(v))) break;
    }
    mdb_cursor_close(cursor);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return fail(Errc::kIo, "database " + path_ + ": " + mdb_strerror(rc));
    return {};
  }

  Status commit() override {
    if (!env_) return {};
    if (txn_ && write_) {
      int rc = mdb_txn_commit(txn_);
      txn_ = nullptr;
      while (rc == MDB_MAP_FULL) {
        if (auto s = replay_with_bigger_map(); !s) return s;
        rc = mdb_txn_commit(txn_);
        txn_ = nullptr;
      }
      if (rc != 0) return fail(Errc::kIo, "database " + path_ + ": commit: " + mdb_strerror(rc));
      mdb_env_sync(env_, 1);
    }
    if (txn_) mdb_txn_abort(txn_);
    txn_ = nullptr;
    mdb_env_close(env_);
    env_ = nullptr;
    if (!tmp_path_.empty()) {
      if (::rename(tmp_path_.c_str(), path_.c_str()) != 0)
        return fail(Errc::kIo, "rename " + tmp_path_ + " to " + path_ + ": " + std::strerror(errno));
      tmp_path_.clear();
    }
    return {};
  }

 protected:
  Result<std::string> do_lookup(std::string_view key) override {
    if (write_) return lookup_in_txn(key);
    SharedLookupLock lock(read_fd_);
    int rc = mdb_txn_renew(txn_);
    if (rc == MDB_MAP_RESIZED && mdb_env_set_mapsize(env_, 0) == 0) rc = mdb_txn_renew(txn_);
    if (rc != 0) return fail(Errc::kTemporary, "database " + path_ + ": " + mdb_strerror(rc));
    auto r = lookup_in_txn(key);
    mdb_txn_reset(txn_);
    return r;
  }

  Result<std::string> lookup_in_txn(std::string_view key) {
    if (flags_ & kTryNull) {
      std::string k(key);
      k.push_back('\0');
      auto v = get(k);
      if (v || v.error().code != Errc::kNotFound) {
        if (v) flags_ &= ~kTryNoNull;
        return v;
      }
    }
    if (flags_ & kTryNoNull) {
      auto v = get(key);
      if (v) flags_ &= ~kTryNull;
      return v;
    }
    return fail(Errc::kNotFound, "not found");
  }

  Result<UpdateOutcome> do_update(std::string_view key, std::string_view value) override {
    // Writers store one convention: with the NUL unless told otherwise.
    if ((flags_ & kTryNull) && (flags_ & kTryNoNull)) flags_ &= ~kTryNoNull;
    std::string k(key), v(value);
    if (flags_ & kTryNull) {
      k.push_back('\0');
      v.push_back('\0');
    }
    bool replace = flags_ & kDupReplace;
    for (;;) {
      MDB_val mk{k.size(), k.data()}, mv{v.size(), v.data()};
      int rc = mdb_put(txn_, dbi_, &mk, &mv, replace ? 0 : MDB_NOOVERWRITE);
      if (rc == MDB_KEYEXIST) return UpdateOutcome::kDuplicateKept;
      if (rc == 0) {
        log_.push_back({k, v, replace});
        if (auto s = checkpoint(); !s) return std::unexpected(s.error());
        return UpdateOutcome::kStored;
      }
      if (rc != MDB_MAP_FULL && rc != MDB_TXN_FULL)
        return fail(Errc::kIo, "database " + path_ + ": put: " + mdb_strerror(rc));
      if (auto s = replay_with_bigger_map(); !s) return std::unexpected(s.error());
    }
  }

  Status do_remove(std::string_view key) override {
    for (bool with_null : {true, false}) {
      if (with_null && !(flags_ & kTryNull)) continue;
      if (!with_null && !(flags_ & kTryNoNull)) continue;
      std::string k(key);
      if (with_null) k.push_back('\0');
      MDB_val mk{k.size(), k.data()};
      int rc = mdb_del(txn_, dbi_, &mk, nullptr);
      if (rc == 0) {
        log_.push_back({k, {}, false, true});
        return {};
      }
      if (rc != MDB_NOTFOUND)
        return fail(Errc::kIo, "database " + path_ + ": delete: " + mdb_strerror(rc));
    }
    return fail(Errc::kNotFound, "not found");
  }

 private:
  struct LoggedOp {
    std::string key, value;
    bool replace = false;
    bool remove = false;
  };

  int begin() { return mdb_txn_begin(env_, nullptr, write_ ? 0 : MDB_RDONLY, &txn_); }

  // While building a new table (invisible until renamed), commits every
  // kCheckpoint writes so that the replay log stays small.
  static constexpr size_t kCheckpoint = 10000;
  Status checkpoint() {
    if (!create_ || log_.size() < kCheckpoint) return {};
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    while (rc == MDB_MAP_FULL) {
      if (auto s = replay_with_bigger_map(); !s) return s;
      rc = mdb_txn_commit(txn_);
      txn_ = nullptr;
    }
    if (rc != 0) return fail(Errc::kIo, "database " + path_ + ": commit: " + mdb_strerror(rc));
    log_.clear();
    rc = begin();
    if (rc != 0) return fail(Errc::kIo, "database " + path_ + ": " + mdb_strerror(rc));
    return {};
  }

  // The map filled up: abort, double the map size, and redo this
  // transaction's writes (LMDB cannot grow a map inside a transaction).
  Status replay_with_bigger_map() {
    if (txn_) mdb_txn_abort(txn_);
    txn_ = nullptr;
    for (;;) {
      map_size_ *= 2;
      int rc = mdb_env_set_mapsize(env_, map_size_);
      if (rc == 0) rc = begin();
      if (rc != 0) return fail(Errc::kIo, "database " + path_ + ": " + mdb_strerror(rc));
      bool full = false;
      for (const LoggedOp& op : log_) {
        MDB_val mk{op.key.size(), const_cast<char*>(op.key.data())};
        MDB_val mv{op.value.size(), const_cast<char*>(op.value.data())};
        rc = op.remove ? mdb_del(txn_, dbi_, &mk, nullptr)
                       : mdb_put(txn_, dbi_, &mk, &mv, op.replace ? 0 : MDB_NOOVERWRITE);
        if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) {
          full = true;
          break;
        }
      }
      if (!full) return {};
      mdb_txn_abort(txn_);
      txn_ = nullptr;
    }
  }

  static std::string_view strip(const MDB_val& v) {
    std::string_view s(static_cast<const char*>(v.mv_data), v.mv_size);
    if (!s.empty() && s.back() == '\0') s.remove_suffix(1);
    return s;
  }
  Result<std::string> get(std::string_view key) {
    MDB_val mk{key.size(), const_cast<char*>(key.data())}, mv{};
    int rc = mdb_get(txn_, dbi_, &mk, &mv);
    if (rc == MDB_NOTFOUND) return fail(Errc::kNotFound, "not found");
    if (rc != 0) return fail(Errc::kTemporary, "database " + path_ + ": " + mdb_strerror(rc));
    return std::string(strip(mv));
  }

  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
  size_t map_size_ = kDefaultMapSize;
  bool create_ = false;
  bool write_ = false;
  int lock_fd_ = -1;
  int read_fd_ = -1;
  std::string path_;
  std::string tmp_path_;
  std::vector<LoggedOp> log_;
};

}  // namespace

Result<MapPtr> open_lmdb(const std::string& type, const std::string& name, unsigned flags) {
  auto map = std::make_unique<LmdbMap>(type, name, flags);
  if (auto s = map->open(); !s) return std::unexpected(s.error());
  return map;
}

}  // namespace postern::maps
