// File helpers: atomic replacement of small configuration files.
#pragma once

#include <string>
#include <string_view>

#include "util/error.h"

namespace postern {

// Replaces `path` with `contents` atomically: write a temporary file in
// the same directory, fsync it, keep the old file's mode (and owner when
// we may), then rename over the original.
Status replace_file_atomically(const std::string& path, std::string_view contents,
                               int default_mode = 0644);

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
std::string dirname_of(std::string_view path);
std::string basename_of(std::string_view path);

}  // namespace postern
