// Set-gid programs (postdrop, postqueue) may use only configuration
// directories that root chose, or a user could point them at a main.cf
// that names any queue directory.
#pragma once

#include <string>

namespace postern {

// True when this process runs with set-gid or set-uid privileges.
bool running_privileged();

// True for the compiled-in configuration directory, and for directories
// listed in its alternate_config_directories or multi_instance_directories.
bool authorized_config_dir(const std::string& dir);

}  // namespace postern
