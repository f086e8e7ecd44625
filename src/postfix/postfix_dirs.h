// postfix(1)'s file-system work: creating missing queue directories with
// the owners and modes of queue_dirs.h (post-install create-missing),
// resetting them (set-permissions), and the ownership/permission warnings
// of "postfix check" in Postfix's words ("not owned by postfix: PATH").
//
// In an unprivileged instance (not run by root) every owner is the
// invoking user: root's part, mail_owner and setgid_group alike.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "global/config.h"
#include "util/error.h"

namespace postern {

struct InstanceOwners {
  std::string root_name;  // "root", or the invoking user
  uid_t root_uid = 0;
  gid_t root_gid = 0;
  std::string mail_owner;  // $mail_owner, or the invoking user
  uid_t mail_uid = 0;
  gid_t mail_gid = 0;
  std::string setgid_group;  // $setgid_group, or the invoking user's group
  gid_t setgid_gid = 0;
};

// Resolves the owners; errors name the parameter (unknown user or group).
Result<InstanceOwners> resolve_owners(const Config& cfg);

// Creates what is missing (queue tree, data_directory); with
// `fix_existing`, also resets owner and mode of what exists.
Status create_queue_directories(const Config& cfg, const InstanceOwners& owners, bool fix_existing);

// The warnings "postfix check" prints, without the "warning: " prefix.
std::vector<std::string> check_permissions(const Config& cfg, const InstanceOwners& owners);

}  // namespace postern
