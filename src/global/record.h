// Postfix's queue file record format: one type byte, the payload length as
// an unsigned base-128 number (least significant 7 bits first, high bit =
// more follows, at most 5 bytes), then the payload.
//
// RecordWriter appends records to a buffer and writes it to a descriptor;
// RecordReader reads records from a descriptor with a payload size limit,
// reporting truncation and corruption as errors whose text matches what
// Postfix logs ("unexpected EOF in data, record type 78 length 12").
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "util/error.h"

namespace postern {

// Appends one encoded record to `out`.
void append_record(std::string& out, int type, std::string_view data);
// One encoded record.
std::string encode_record(int type, std::string_view data);
// Encoded size of a record with `data_len` payload bytes.
size_t record_size(size_t data_len);

struct Record {
  int type = 0;
  std::string data;
  off_t offset = 0;  // where the record starts in the file
};

// Buffers records and writes them to a descriptor at increasing offsets.
// Errors are sticky: after a failed write every later call fails too.
class RecordWriter {
 public:
  // `fd` is borrowed; writing starts at `start_offset` (normally 0).
  explicit RecordWriter(int fd, off_t start_offset = 0) : fd_(fd), offset_(start_offset) {}

  // Appends a record; returns its offset. Flushes when the buffer is big.
  off_t put(int type, std::string_view data);
  // Offset where the next record will start.
  off_t offset() const { return offset_; }
  // Writes buffered records to the descriptor.
  Status flush();
  // Overwrites bytes at `offset` (which must be flushed already or be
  // inside the buffer); used for size records and done marks.
  Status overwrite(off_t offset, std::string_view bytes);

 private:
  int fd_;
  off_t offset_;              // file offset of the end of buffer_
  std::string buffer_;        // records not yet written
  std::optional<Error> error_;
};

// Reads records in sequence, optionally following pointer records.
class RecordReader {
 public:
  enum class Mode {
    kRaw,             // every record as it is in the file
    kFollowPointers,  // jump to where 'p' records point, skip 'w' padding;
                      // the input must be seekable (checked at the E record)
  };

  // `fd` is borrowed. `max_size` limits one payload (0 = no limit, used by
  // postcat; records are still read only as far as the file really goes).
  // `name` names the input in error texts.
  RecordReader(int fd, std::string name, size_t max_size = 0, Mode mode = Mode::kRaw)
      : fd_(fd), name_(std::move(name)), max_size_(max_size), mode_(mode) {}

  // The next record; nullopt at a clean end of file (between records).
  // Errors: kEof (truncated), kInvalid (bad length or pointer), kTooLarge,
  // kIo. Texts name the problem without the input name; see name().
  Result<std::optional<Record>> next();

  // Where the next record will be read.
  off_t offset() const { return offset_; }
  // Continues reading at `offset`.
  Status seek(off_t offset);
  // Reads at most one byte without consuming it (nullopt at end of file).
  Result<std::optional<unsigned char>> peek();
  const std::string& name() const { return name_; }
  void set_mode(Mode mode) { mode_ = mode; }

 private:
  Result<std::optional<Record>> next_raw();
  Result<int> get_byte();  // -1 at end of file
  Status read_exact(std::string& out, size_t n);

  int fd_;
  std::string name_;
  size_t max_size_;
  Mode mode_;
  off_t offset_ = 0;      // logical position
  off_t buf_start_ = 0;   // file offset of buf_[0]
  std::string buf_;
  size_t buf_pos_ = 0;
  int reverse_jumps_ = 0;
};

// Parses the %15ld offset of a pointer record (leading blanks, digits).
std::optional<off_t> parse_pointer(std::string_view data);

}  // namespace postern
