// The mail queues under queue_directory (COMPAT.md sections 1-3): where a
// queue file lives, creating one under a fresh queue ID, moving it between
// queues, listing and finding queue files.
//
// Hashed queues (hash_queue_names) keep a file under hash_queue_depth
// levels of one-character subdirectories chosen by queue_id_hash_key():
// deferred/D/DC0B4A7409B. The directory table itself is queue_dirs.h.
#pragma once

#include <sys/types.h>

#include <functional>
#include <array>
#include <span>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/unique_fd.h"

namespace postern {

class Config;

// The queues postcat -q and postsuper search, in Postfix's order.
inline constexpr std::array<std::string_view, 6> kSearchQueues = {
    "maildrop", "incoming", "active", "deferred", "hold", "saved"};

class MailQueue {
 public:
  struct Settings {
    std::string directory;              // queue_directory
    std::vector<std::string> hashed;    // hash_queue_names
    int hash_depth = 1;                 // hash_queue_depth
    bool long_ids = false;              // enable_long_queue_ids
  };

  explicit MailQueue(Settings settings);
  // Settings from queue_directory, hash_queue_names, hash_queue_depth and
  // enable_long_queue_ids; bad values are errors naming the parameter.
  static Result<MailQueue> from_config(const Config& config);

  const std::string& directory() const { return s_.directory; }
  const Settings& settings() const { return s_; }
  bool is_hashed(std::string_view queue) const;

  // "deferred/D" (the directory of `id` in `queue`), relative to the top.
  std::string relative_dir(std::string_view queue, std::string_view id) const;
  // "deferred/D/DC0B4A7409B", relative to the queue directory.
  std::string relative_path(std::string_view queue, std::string_view id) const;
  // The same, absolute.
  std::string path(std::string_view queue, std::string_view id) const;

  struct NewFile {
    UniqueFd fd;       // open read-write
    std::string id;
    std::string path;  // absolute
  };
  // Creates an empty file in `queue` under a new queue ID: the file is made
  // as QUEUE/<usec>.<pid> with O_EXCL, its ID derived from the time and its
  // inode, then linked to its final name (never replacing a file) and the
  // temporary name removed. A clash retries with a new time.
  Result<NewFile> create(std::string_view queue, mode_t mode = 0600) const;

  // Renames a queue file from one queue to another (atomic: rename(2)),
  // creating a missing hash subdirectory. kNotFound if it is not in `from`.
  Status move(std::string_view from, std::string_view to, std::string_view id) const;
  Status remove(std::string_view queue, std::string_view id) const;

  // Moves a damaged file to corrupt/ and logs
  // 'warning: saving corrupt file "ID" from queue "Q" to queue "corrupt"'.
  Status save_corrupt(std::string_view queue, std::string_view id) const;

  // The queue IDs in `queue` (descending into hash subdirectories), in
  // directory order. Temporary files and names that are no queue ID are
  // skipped. A missing queue directory is kNotFound.
  Result<std::vector<std::string>> scan(std::string_view queue) const;
  // Calls `visit(id, relative_path)` for each file; stops when it returns false.
  Status scan(std::string_view queue,
              const std::function<bool(const std::string& id, const std::string& rel_path)>& visit) const;

  // The first of `queues` that holds `id`, if any.
  std::optional<std::string> find(std::string_view id,
                                  std::span<const std::string_view> queues = kSearchQueues) const;

 private:
  std::string new_id(long sec, long usec, ino_t inode) const;
  Status make_dirs(const std::string& rel_dir) const;

  Settings s_;
};

}  // namespace postern
