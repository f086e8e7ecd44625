#include "util/stream.h"

#include <sys/socket.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace postern {

Status wait_fd(int fd, short events, Deadline deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return fail(Errc::kTimeout, "timeout");
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
    if (n > 0) return {};
    if (n == 0) return fail(Errc::kTimeout, "timeout");
    if (errno != EINTR) return sys_fail("poll");
  }
}

FdTransport::FdTransport(UniqueFd fd) : fd_(std::move(fd)) {
  int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
}

Result<size_t> FdTransport::read_some(char* buf, size_t len, Deadline deadline) {
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf, len);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) return fail(Errc::kEof, "lost connection");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return sys_fail("read");
    if (auto w = wait_fd(fd_.get(), POLLIN, deadline); !w) return std::unexpected(w.error());
  }
}

Result<size_t> FdTransport::write_some(const char* buf, size_t len, Deadline deadline) {
  for (;;) {
    // send() with MSG_NOSIGNAL: a peer that went away is an EPIPE error for
    // the caller, never a SIGPIPE that kills the process. Pipes and files
    // (ENOTSOCK) use write().
    ssize_t n = is_socket_ != 0 ? ::send(fd_.get(), buf, len, MSG_NOSIGNAL) : -1;
    if (n < 0 && (is_socket_ == 0 || errno == ENOTSOCK)) {
      is_socket_ = 0;
      n = ::write(fd_.get(), buf, len);
    }
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return sys_fail("write");
    if (auto w = wait_fd(fd_.get(), POLLOUT, deadline); !w) return std::unexpected(w.error());
  }
}

Stream::Stream(std::unique_ptr<Transport> transport) : transport_(std::move(transport)) {}

Stream Stream::from_fd(UniqueFd fd) {
  return Stream(std::make_unique<FdTransport>(std::move(fd)));
}

Status Stream::fill(size_t min_free) {
  if (read_pos_ > 0 && read_pos_ == read_buf_.size()) {
    read_buf_.clear();
    read_pos_ = 0;
  } else if (read_pos_ > 65536) {
    read_buf_.erase(0, read_pos_);
    read_pos_ = 0;
  }
  size_t want = std::max<size_t>(min_free, 8192);
  size_t old = read_buf_.size();
  read_buf_.resize(old + want);
  auto n = transport_->read_some(read_buf_.data() + old, want, deadline());
  if (!n) {
    read_buf_.resize(old);
    return std::unexpected(n.error());
  }
  read_buf_.resize(old + *n);
  return {};
}

Result<std::string> Stream::read_until(char terminator, size_t limit, bool* complete) {
  size_t scanned = 0;
  for (;;) {
    size_t avail = read_buf_.size() - read_pos_;
    size_t nl = read_buf_.find(terminator, read_pos_ + scanned);
    if (nl != std::string::npos && nl - read_pos_ <= limit) {
      std::string line = read_buf_.substr(read_pos_, nl - read_pos_);
      read_pos_ = nl + 1;
      if (complete) *complete = true;
      return line;
    }
    if (avail >= limit) {
      std::string piece = read_buf_.substr(read_pos_, limit);
      read_pos_ += limit;
      if (complete) *complete = false;
      return piece;
    }
    scanned = avail;
    size_t before = read_pos_;
    if (auto f = fill(limit - avail); !f) {
      if (f.error().code == Errc::kEof && avail > 0) {
        std::string rest = read_buf_.substr(read_pos_);
        read_pos_ = read_buf_.size();
        if (complete) *complete = false;
        return rest;
      }
      return std::unexpected(f.error());
    }
    if (read_pos_ != before) scanned = 0;  // fill() compacted the buffer
  }
}

Result<std::string> Stream::read_exact(size_t n) {
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    if (!has_buffered_input())
      if (auto f = fill(n - out.size()); !f) return std::unexpected(f.error());
    size_t take = std::min(n - out.size(), read_buf_.size() - read_pos_);
    out.append(read_buf_, read_pos_, take);
    read_pos_ += take;
  }
  return out;
}

Result<std::string> Stream::read_some(size_t n) {
  if (!has_buffered_input())
    if (auto f = fill(n); !f) return std::unexpected(f.error());
  size_t take = std::min(n, read_buf_.size() - read_pos_);
  std::string out(read_buf_, read_pos_, take);
  read_pos_ += take;
  return out;
}

bool Stream::input_pending() {
  if (has_buffered_input()) return true;
  pollfd p{transport_->fd(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

void Stream::discard_buffered_input() {
  read_buf_.clear();
  read_pos_ = 0;
}

void Stream::write(std::string_view data) { write_buf_.append(data); }

Status Stream::flush() {
  size_t done = 0;
  Deadline d = deadline();
  while (done < write_buf_.size()) {
    auto n = transport_->write_some(write_buf_.data() + done, write_buf_.size() - done, d);
    if (!n) {
      write_buf_.erase(0, done);
      return std::unexpected(n.error());
    }
    done += *n;
  }
  write_buf_.clear();
  return {};
}

Status Stream::write_flush(std::string_view data) {
  write(data);
  return flush();
}

std::unique_ptr<Transport> Stream::replace_transport(std::unique_ptr<Transport> next) {
  discard_buffered_input();
  std::swap(transport_, next);
  return next;
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (auto w = wait_fd(fd, POLLOUT, Clock::now() + std::chrono::seconds(60)); !w)
          return w;
        continue;
      }
      return sys_fail("write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<std::string> read_file(const std::string& path, size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sys_fail("open " + path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail("read " + path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > limit)
      return fail(Errc::kTooLarge, path + ": file too large");
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace postern
