// Fuzz target: the queue file record reader and the queue file parser.
// Any input must end in a clean end of file or an error: no crash, no
// hang, no unbounded allocation.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "global/queue_file.h"
#include "global/record.h"
#include "util/unique_fd.h"

using namespace postern;

namespace {

constexpr size_t kMaxRecord = 1 << 16;
constexpr int kMaxRecords = 100000;

void read_all(int fd, RecordReader::Mode mode) {
  ::lseek(fd, 0, SEEK_SET);
  RecordReader reader(fd, "fuzz", kMaxRecord, mode);
  for (int i = 0; i < kMaxRecords; ++i) {
    auto r = reader.next();
    if (!r || !*r) return;
    if ((*r)->data.size() > kMaxRecord) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  UniqueFd fd(::memfd_create("fuzz", MFD_CLOEXEC));
  if (!fd) return 0;
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd.get(), data + done, size - done);
    if (n <= 0) return 0;
    done += static_cast<size_t>(n);
  }
  read_all(fd.get(), RecordReader::Mode::kRaw);
  read_all(fd.get(), RecordReader::Mode::kFollowPointers);
  ::lseek(fd.get(), 0, SEEK_SET);
  (void)read_queue_file(fd.get(), "fuzz", true, kMaxRecord);
  return 0;
}
