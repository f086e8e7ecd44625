// A shared flock held for the duration of one lookup, so that a reader
// never sees a table while postmap -i or -d changes it in place (writers
// hold an exclusive flock). A no-op for fd < 0.
#pragma once

#include <sys/file.h>

namespace postern::maps {

class SharedLookupLock {
 public:
  explicit SharedLookupLock(int fd) : fd_(fd) {
    if (fd_ >= 0 && ::flock(fd_, LOCK_SH) != 0) fd_ = -1;
  }
  ~SharedLookupLock() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
  }
  SharedLookupLock(const SharedLookupLock&) = delete;
  SharedLookupLock& operator=(const SharedLookupLock&) = delete;

 private:
  int fd_;
};

}  // namespace postern::maps
