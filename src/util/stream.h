// Buffered, deadline-bounded I/O on a descriptor (or a TLS session).
//
// Every read has a size limit and a timeout: read_line() never returns
// more than `limit` bytes and never waits longer than the stream's timeout
// for the next byte. The transport is replaceable so that STARTTLS can swap
// a plain socket for a TLS session while keeping the same Stream; swapping
// discards any input buffered before the switch (no command injection).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "util/error.h"
#include "util/unique_fd.h"

namespace postern {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// Moves bytes; blocks at most until the deadline.
class Transport {
 public:
  virtual ~Transport() = default;
  // Reads at least one byte, or fails with kEof, kTimeout or kIo.
  virtual Result<size_t> read_some(char* buf, size_t len, Deadline deadline) = 0;
  // Writes at least one byte, or fails with kTimeout or kIo.
  virtual Result<size_t> write_some(const char* buf, size_t len, Deadline deadline) = 0;
  virtual int fd() const = 0;
};

// A plain file descriptor; it is put in non-blocking mode and owned.
class FdTransport : public Transport {
 public:
  explicit FdTransport(UniqueFd fd);
  Result<size_t> read_some(char* buf, size_t len, Deadline deadline) override;
  Result<size_t> write_some(const char* buf, size_t len, Deadline deadline) override;
  int fd() const override { return fd_.get(); }
  UniqueFd release_fd() { return std::move(fd_); }

 private:
  UniqueFd fd_;
  int is_socket_ = -1;  // -1 unknown, 0 no (use write), 1 yes (use send)
};

// Waits until `fd` is readable (events = POLLIN) or writable (POLLOUT).
Status wait_fd(int fd, short events, Deadline deadline);

class Stream {
 public:
  explicit Stream(std::unique_ptr<Transport> transport);
  static Stream from_fd(UniqueFd fd);

  // Time allowed for each read or write call (default 300s).
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // One line without its "\n" (a trailing "\r" is kept; callers decide).
  // When no newline comes within `limit` bytes, returns those bytes with
  // *complete = false; the rest of the line is returned by later calls.
  // kEof when the stream ends before any byte; a final line without "\n"
  // is returned with *complete = false.
  Result<std::string> read_line(size_t limit, bool* complete = nullptr) {
    return read_until('\n', limit, complete);
  }
  // read_line() with another terminator (NUL for attribute lists).
  Result<std::string> read_until(char terminator, size_t limit, bool* complete = nullptr);
  // Exactly n bytes, or an error.
  Result<std::string> read_exact(size_t n);
  // Up to n bytes that are buffered or arrive in one read.
  Result<std::string> read_some(size_t n);

  // True when input is waiting in the buffer (a client that pipelines
  // without permission, or sends after STARTTLS in the same packet).
  bool has_buffered_input() const { return read_pos_ < read_buf_.size(); }
  // The input read ahead and not yet consumed (for log lines).
  std::string_view buffered_input() const {
    return std::string_view(read_buf_).substr(read_pos_);
  }
  // True when input is buffered or readable on the descriptor right now.
  bool input_pending();
  void discard_buffered_input();

  // Buffers output; flush() sends it.
  void write(std::string_view data);
  Status flush();
  // write() + flush().
  Status write_flush(std::string_view data);
  // Bytes written but not yet flushed.
  size_t buffered_output() const { return write_buf_.size(); }

  Transport& transport() { return *transport_; }
  int fd() const { return transport_->fd(); }
  // Replaces the transport (STARTTLS); buffered input is discarded.
  std::unique_ptr<Transport> replace_transport(std::unique_ptr<Transport> next);

 private:
  Status fill(size_t min_free);
  Deadline deadline() const { return Clock::now() + timeout_; }

  std::unique_ptr<Transport> transport_;
  std::chrono::milliseconds timeout_{300000};
  std::string read_buf_;
  size_t read_pos_ = 0;
  std::string write_buf_;
};

// Writes all of `data` to a blocking or non-blocking descriptor.
Status write_all(int fd, std::string_view data);
// Reads the whole of a (small) file, failing if it exceeds `limit` bytes.
Result<std::string> read_file(const std::string& path, size_t limit = 64 << 20);

}  // namespace postern
