// The queue operations of postsuper(1), separate from its command line so
// unit tests can drive them on a scratch queue directory.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "global/mail_queue.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace postern {

enum class SuperOp { kDelete, kExpire, kExpireRelease, kHold, kRelease, kRequeue };

// The queues an operation looks in when no queue is named on the command
// line (Postfix's defaults).
std::vector<std::string> default_queues(SuperOp op);

// Queue names postsuper accepts as operands.
bool valid_super_queue(std::string_view name);

// What a queue ID argument of -d/-e/-f/-h/-H/-r means.
struct IdArgument {
  enum Kind { kOne, kAll, kStdin } kind = kOne;
  std::string id;
};
IdArgument parse_id_argument(std::string_view arg);

// Splits text read from stdin (postsuper -d -) into candidate IDs: each
// line as it is, like Postfix (so "ID*" copied from mailq, or a line with
// blanks, is an invalid ID and warned about).
std::vector<std::string> ids_from_text(std::string_view text);

// A short queue ID (hex, at least 6 digits) or a long one.
bool well_formed_queue_id(std::string_view name);
// The name a queue file with inode `ino` should have, derived from `name`
// (keeping its time part); nullopt when `name` is not well formed.
std::optional<std::string> name_for_inode(std::string_view name, unsigned long long ino);

// Rewrites the queue file `fd` (read following pointer records) as a
// maildrop file on `out_fd`, in the format postdrop writes and pickup
// accepts: T first, then F S A V i n and the pending R records, M, the
// content (N L), X, the extracted A and pending R records, E. Size,
// done/canceled recipients, O records and queue-manager bookkeeping are
// dropped: pickup and cleanup make a new queue file from it.
Status rewrite_as_maildrop(int fd, const std::string& name, int out_fd);

struct SuperCounts {
  long deleted = 0, expired = 0, held = 0, released = 0, requeued = 0;
};

class QueueOps {
 public:
  // `report(text)` receives each per-message line ("ID: removed").
  QueueOps(const MailQueue& queue, std::function<void(const std::string&)> report)
      : q_(queue), report_(std::move(report)) {}

  // Applies `op` to `id` in the first of `queues` that holds it; true when
  // a message was affected. `quiet` suppresses the per-message line (ALL).
  bool apply(SuperOp op, const std::string& id, const std::vector<std::string>& queues,
             bool quiet = false);
  // Applies `op` to every message in `queues`.
  void apply_all(SuperOp op, const std::vector<std::string>& queues);

  const SuperCounts& counts() const { return counts_; }

  // Structure check: renames files whose name does not match their inode
  // (and misplaced hash subdirectories); warns about bogus names. Returns
  // the number of renamed files. `purge_temp` removes old temporary files.
  long check_structure(bool purge_temp, bool fix);

 private:
  bool delete_one(const std::string& queue, const std::string& id);
  bool requeue_one(const std::string& queue, const std::string& id);
  // Opens a queue file; in active/ also waits for its lock (see delete_one).
  UniqueFd open_locked(const std::string& queue, const std::string& id);
  void remove_logs(const std::string& id);
  void rename_logs(const std::string& from, const std::string& to);

  const MailQueue& q_;
  std::function<void(const std::string&)> report_;
  SuperCounts counts_;
};

}  // namespace postern
