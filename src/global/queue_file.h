// Queue files: writing a message in Postfix's record format and reading
// back what qmgr, showq and postcat need (COMPAT.md sections 2 and 4).
//
// Layout: envelope records (C size record first), M, content records
// (N lines, L pieces of over-long lines), X, extracted records, E.
// A file counts as complete ("accepted") once its owner permission bits
// are exactly rwx; the writer sets them in commit() after fsync.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "global/record.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace postern {

// Group permission bits used as flags on complete queue files.
inline constexpr mode_t kQueueModeComplete = 0700;
inline constexpr mode_t kQueueModeExpired = 0010;  // S_IXGRP: postsuper -e
inline constexpr mode_t kQueueModeFlush = 0040;    // S_IRGRP: flush hint

// True when the owner bits say the writer finished (mode & 0700 == 0700).
inline bool queue_file_complete(mode_t mode) {
  return (mode & kQueueModeComplete) == kQueueModeComplete;
}

// The six fields of the C record, each written as %15ld.
struct SizeRecord {
  long content_size = 0;    // bytes from the first content record to X
  long data_offset = 0;     // offset of the first content record
  long rcpt_count = 0;      // recipients still to deliver
  long qmgr_flags = 0;      // DSN NOTIFY mask << 1, bit 0 = mixed recipients
  long content_length = 0;  // message length as the client sent it
  long smtputf8 = 0;

  std::string format() const;  // 95 bytes
  static Result<SizeRecord> parse(std::string_view data);
};

// Writes one queue file. Methods append records; write errors are kept and
// reported by flush()/commit(). Records are written in the order given;
// the caller chooses the order (cleanup's is in COMPAT.md section 4).
class QueueFileWriter {
 public:
  // `fd` is borrowed and positioned at 0 (a new file from MailQueue::create).
  explicit QueueFileWriter(int fd) : w_(fd) {}

  // Reserves the C record; commit() fills it in. Call first, or never
  // (maildrop files have none).
  void size_record();
  void time(long sec, long usec);                    // T "sec usec"
  void attr(std::string_view name, std::string_view value);  // A name=value
  void fullname(std::string_view name) { record('F', name); }
  void sender(std::string_view addr) { record('S', addr); }
  // O (when given) then R; returns the offset of the R record (for D marks).
  off_t recipient(std::string_view addr, std::optional<std::string_view> orig = std::nullopt);
  void warning_time(long when);                      // W %15ld
  // Any record (envelope extras such as I, L, >, V, K).
  off_t record(int type, std::string_view data);

  // Starts the content segment (M).
  void message_start();
  // One line of content without its line end; pieces longer than
  // `line_limit` become L records, the last piece an N record.
  void content_line(std::string_view line, size_t line_limit = 2048);
  // Starts the extracted segment (X); content size is measured up to here.
  void extracted_start();
  // The final E record.
  void end();

  // Sets the C record fields not measured by the writer.
  void set_content_length(long n) { size_.content_length = n; explicit_length_ = true; }
  void set_qmgr_flags(long flags) { size_.qmgr_flags = flags; }
  void set_smtputf8(long flags) { size_.smtputf8 = flags; }
  void set_rcpt_count(long n) { size_.rcpt_count = n; explicit_rcpt_ = true; }
  const SizeRecord& sizes() const { return size_; }

  off_t offset() const { return w_.offset(); }
  Status flush() { return w_.flush(); }
  // Makes the file complete: fills in the C record, writes everything,
  // fchmod(0700 | extra_mode), fsync. Only then does the file count as
  // accepted; a failure leaves an incomplete file the caller removes.
  Status commit(int fd, mode_t extra_mode = 0);

 private:
  RecordWriter w_;
  SizeRecord size_;
  std::optional<off_t> size_offset_;
  bool explicit_length_ = false;
  bool explicit_rcpt_ = false;
  long rcpts_ = 0;
};

struct QueueRecipient {
  std::string address;
  std::string orig;           // O record, when present
  std::string dsn_orcpt;      // A dsn_orig_rcpt=
  int notify_flags = 0;       // A notify_flags=
  off_t offset = 0;           // of the R/D// record
  char status = 'R';          // 'R' pending, 'D' done, '/' canceled
  bool done() const { return status != 'R'; }
};

// What a queue file says about its message.
struct QueueFileInfo {
  std::optional<SizeRecord> size;  // absent in maildrop files
  long arrival_sec = 0, arrival_usec = 0;
  long create_time = 0;            // A create_time=, else 0
  long warning_time = 0;           // W, else 0
  std::string sender;
  std::optional<std::string> fullname;
  std::vector<std::pair<std::string, std::string>> attrs;  // A records in order
  std::vector<QueueRecipient> recipients;                  // envelope then extracted
  std::string content_filter, inspector, redirect, verp;
  off_t content_offset = -1;       // first record after M
  off_t extracted_offset = -1;     // the X record
  bool has_end = false;            // E seen

  // The value of an A record, if present.
  std::optional<std::string> attr(std::string_view name) const;
};

// Reads a queue file: envelope and, when `extracted` is set, the extracted
// segment (skipping the content). Follows pointer records. Truncation,
// corruption and a missing E record (when reading to the end) are errors
// (kInvalid or kEof) whose text starts with `name`.
Result<QueueFileInfo> read_queue_file(int fd, const std::string& name, bool extracted = true,
                                      size_t max_record = 1 << 20);
Result<QueueFileInfo> read_queue_file(const std::string& path, bool extracted = true);

// Marks the recipient record at `offset` done (type byte 'R' -> 'D', or
// another status such as '/'), in place, as delivery agents do. Checks
// that a recipient record is there.
Status mark_recipient(int fd, off_t offset, char status = 'D');

}  // namespace postern
