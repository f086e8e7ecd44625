// hash: and btree: tables in Berkeley DB files (NAME.db), in the format
// Postfix writes: keys and values carry a trailing NUL unless the map was
// opened without kTryNull; readers accept both and keep whichever
// convention matched first. Writers take an exclusive flock on the file.
#include <db.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "maps/file_lock.h"
#include "maps/openers.h"

namespace postern::maps {
namespace {

constexpr unsigned kHashElements = 4096;
constexpr unsigned kReadCache = 128 * 1024;
constexpr unsigned kWriteCache = 16 * 1024 * 1024;

std::string db_error(int ret) { return ret > 0 ? std::strerror(ret) : db_strerror(ret); }

class DbMap final : public Map {
 public:
  using Map::Map;
  ~DbMap() override {
    if (db_) db_->close(db_, 0);
    if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
  }

  Status open() {
    path_ = map_file_path(type_, name_);
    int ret = db_create(&db_, nullptr, 0);
    if (ret != 0) return fail(Errc::kIo, "db_create: " + db_error(ret));
    bool create = flags_ & kCreate;
    bool write = create || (flags_ & kWrite);
    db_->set_cachesize(db_, 0, write ? kWriteCache : kReadCache, 0);
    DBTYPE kind = type_ == "hash" ? DB_HASH : DB_BTREE;
    if (kind == DB_HASH && create) db_->set_h_nelem(db_, kHashElements);
    std::string open_path = path_;
    u_int32_t open_flags = DB_RDONLY;
    if (create) {
      tmp_path_ = temp_path_for(path_);
      ::unlink(tmp_path_.c_str());
      open_path = tmp_path_;
      open_flags = DB_CREATE | DB_EXCL;
    } else if (write) {
      open_flags = DB_CREATE;
    }
    ret = db_->open(db_, nullptr, open_path.c_str(), nullptr, kind, open_flags,
                    int(new_file_mode()));
    if (ret != 0) {
      db_->close(db_, 0);
      db_ = nullptr;
      Errc code = ret == ENOENT ? Errc::kNotFound : ret == EACCES ? Errc::kIo : Errc::kInvalid;
      return fail(code, "open database " + path_ + ": " + db_error(ret));
    }
    if (write) {
      int fd = -1;
      if (db_->fd(db_, &fd) == 0 && fd >= 0) {
        if (::flock(fd, LOCK_EX) != 0)
          return fail(Errc::kIo, "lock database " + path_ + ": " + std::strerror(errno));
        if (create) ::fchmod(fd, new_file_mode());
      }
      if (!(flags_ & (kTryNull | kTryNoNull))) flags_ |= kTryNull;
    } else {
      watch_file(path_);
      warn_if_older_than_source(path_, name_);
      if (db_->fd(db_, &read_fd_) != 0) read_fd_ = -1;
    }
    return {};
  }

  Status sequence(const std::function<bool(std::string_view, std::string_view)>& visit) override {
    DBC* cursor = nullptr;
    int ret = db_->cursor(db_, nullptr, &cursor, 0);
    if (ret != 0) return fail(Errc::kIo, "database " + path_ + ": " + db_error(ret));
    DBT key{}, value{};
    Status status;
    while ((ret = cursor->c_get(cursor, &key, &value, DB_NEXT)) == 0) {
      if (!visit(strip(key), strip(value))) break;
    }
    if (ret != 0 && ret != DB_NOTFOUND)
      status = fail(Errc::kIo, "database " + path_ + ": " + db_error(ret));
    cursor->c_close(cursor);
    return status;
  }

  Status commit() override {
    if (!db_) return {};
    int ret = db_->close(db_, 0);
    db_ = nullptr;
    if (ret != 0) return fail(Errc::kIo, "close database " + path_ + ": " + db_error(ret));
    if (!tmp_path_.empty()) {
      if (::rename(tmp_path_.c_str(), path_.c_str()) != 0)
        return fail(Errc::kIo, "rename " + tmp_path_ + " to " + path_ + ": " + std::strerror(errno));
      tmp_path_.clear();
    }
    return {};
  }

 protected:
  Result<std::string> do_lookup(std::string_view key) override {
    SharedLookupLock lock(read_fd_);
    if (flags_ & kTryNull) {
      std::string k(key);
      k.push_back('\0');
      if (auto v = get(k)) {
        flags_ &= ~kTryNoNull;
        return v;
      } else if (v.error().code != Errc::kNotFound) {
        return v;
      }
    }
    if (flags_ & kTryNoNull) {
      if (auto v = get(key)) {
        flags_ &= ~kTryNull;
        return v;
      } else {
        return v;
      }
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
    DBT dk = make(k), dv = make(v);
    bool replace = flags_ & kDupReplace;
    int ret = db_->put(db_, nullptr, &dk, &dv, replace ? 0 : DB_NOOVERWRITE);
    if (ret == DB_KEYEXIST) {
      if (!replace) return UpdateOutcome::kDuplicateKept;
    } else if (ret != 0) {
      return fail(Errc::kIo, "database " + path_ + ": put: " + db_error(ret));
    }
    return UpdateOutcome::kStored;
  }

  Status do_remove(std::string_view key) override {
    for (bool with_null : {true, false}) {
      if (with_null && !(flags_ & kTryNull)) continue;
      if (!with_null && !(flags_ & kTryNoNull)) continue;
      std::string k(key);
      if (with_null) k.push_back('\0');
      DBT dk = make(k);
      int ret = db_->del(db_, nullptr, &dk, 0);
      if (ret == 0) return {};
      if (ret != DB_NOTFOUND)
        return fail(Errc::kIo, "database " + path_ + ": delete: " + db_error(ret));
    }
    return fail(Errc::kNotFound, "not found");
  }

 private:
  static DBT make(std::string_view s) {
    DBT d{};
    d.data = const_cast<char*>(s.data());
    d.size = u_int32_t(s.size());
    return d;
  }
  static std::string_view strip(const DBT& d) {
    std::string_view s(static_cast<const char*>(d.data), d.size);
    if (!s.empty() && s.back() == '\0') s.remove_suffix(1);
    return s;
  }
  Result<std::string> get(std::string_view key) {
    DBT dk = make(key), dv{};
    int ret = db_->get(db_, nullptr, &dk, &dv, 0);
    if (ret == DB_NOTFOUND) return fail(Errc::kNotFound, "not found");
    if (ret != 0) return fail(Errc::kTemporary, "database " + path_ + ": " + db_error(ret));
    return std::string(strip(dv));
  }

  DB* db_ = nullptr;
  int read_fd_ = -1;  // readers: the file to lock shared per lookup
  std::string path_;
  std::string tmp_path_;
};

}  // namespace

Result<MapPtr> open_db(const std::string& type, const std::string& name, unsigned flags) {
  auto map = std::make_unique<DbMap>(type, name, flags);
  if (auto s = map->open(); !s) return std::unexpected(s.error());
  return map;
}

}  // namespace postern::maps
