// The directories under queue_directory, with the owner and mode each gets
// when `postfix start`/`postfix check` creates it (COMPAT.md section 1).
// Shared by the queue library, postfix/postsuper and master so they agree.
#pragma once

#include <sys/types.h>

#include <array>
#include <string_view>

namespace postern {

enum class QueueDirOwner {
  kRoot,       // root:root (or the invoking user in an unprivileged instance)
  kMailOwner,  // mail_owner:mail_owner's group
  kPostdrop,   // mail_owner:setgid_group
};

struct QueueDirSpec {
  std::string_view name;
  QueueDirOwner owner;
  mode_t mode;
  bool holds_queue_files;  // a mail queue (as opposed to sockets or logs)
};

inline constexpr std::array<QueueDirSpec, 15> kQueueDirs{{
    {"maildrop", QueueDirOwner::kPostdrop, 0730, true},
    {"incoming", QueueDirOwner::kMailOwner, 0700, true},
    {"active", QueueDirOwner::kMailOwner, 0700, true},
    {"deferred", QueueDirOwner::kMailOwner, 0700, true},
    {"hold", QueueDirOwner::kMailOwner, 0700, true},
    {"corrupt", QueueDirOwner::kMailOwner, 0700, true},
    {"saved", QueueDirOwner::kMailOwner, 0700, true},
    {"defer", QueueDirOwner::kMailOwner, 0700, false},
    {"bounce", QueueDirOwner::kMailOwner, 0700, false},
    {"trace", QueueDirOwner::kMailOwner, 0700, false},
    {"flush", QueueDirOwner::kMailOwner, 0700, false},
    {"public", QueueDirOwner::kPostdrop, 0710, false},
    {"private", QueueDirOwner::kMailOwner, 0700, false},
    {"pid", QueueDirOwner::kRoot, 0755, false},
    // The top of the queue directory itself is root-owned 0755; "" names it.
    {"", QueueDirOwner::kRoot, 0755, false},
}};

}  // namespace postern
