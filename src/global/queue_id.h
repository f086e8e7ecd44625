// Queue IDs (COMPAT.md section 3).
//
// Short: the microseconds of the creation time as 5 upper-case hex digits,
// then the file's inode number in upper-case hex ("DC0B4A7409B").
// Long (enable_long_queue_ids): seconds in base 52 (at least 6 digits),
// microseconds in base 52 (4 digits), 'z', inode in base 51
// ("4jXwtN5YLSz1bc8s"). Both are unique among the files that exist at one
// time in one file system because the inode is part of the name.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace postern {

// Longest queue file name we accept (long IDs are about 17 characters).
inline constexpr size_t kMaxQueueIdLength = 100;

std::string make_short_queue_id(long usec, ino_t inode);
std::string make_long_queue_id(time_t sec, long usec, ino_t inode);

// A syntactically acceptable queue file name: 1..kMaxQueueIdLength
// characters, only letters, digits and '_'.
bool valid_queue_id(std::string_view id);
// True for long-form names: the last 'z' is at index 10 or later.
bool is_long_queue_id(std::string_view id);

// The characters that choose the hash subdirectories: the ID itself for
// short IDs; for long IDs the microseconds field as 5 upper-case hex
// digits (so both forms spread over the same 16 directories).
std::string queue_id_hash_key(std::string_view id);

// The parts of a long ID (seconds, microseconds, inode), when it is one.
struct LongQueueIdParts {
  long long sec;
  long usec;
  unsigned long long inode;
};
std::optional<LongQueueIdParts> parse_long_queue_id(std::string_view id);

}  // namespace postern
