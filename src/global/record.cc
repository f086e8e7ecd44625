#include "global/record.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "global/rec_type.h"
#include "util/strings.h"

namespace postern {

namespace {
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kWriteFlushAt = 64 * 1024;
constexpr int kMaxLengthShift = 28;       // 5 length bytes make an int
constexpr int kReverseJumpLimit = 10000;  // pointer loops end here
}  // namespace

size_t record_size(size_t data_len) {
  size_t n = 2;
  for (size_t len = data_len >> 7; len != 0; len >>= 7) ++n;
  return n + data_len;
}

void append_record(std::string& out, int type, std::string_view data) {
  out.push_back(static_cast<char>(type));
  size_t len = data.size();
  do {
    unsigned char byte = len & 0x7f;
    len >>= 7;
    if (len != 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (len != 0);
  out.append(data);
}

std::string encode_record(int type, std::string_view data) {
  std::string out;
  append_record(out, type, data);
  return out;
}

std::optional<off_t> parse_pointer(std::string_view data) {
  size_t i = data.find_first_not_of(' ');
  if (i == std::string_view::npos) return std::nullopt;
  off_t value = 0;
  for (; i < data.size(); ++i) {
    char c = data[i];
    if (c < '0' || c > '9') return std::nullopt;
    if (value > (INT64_MAX - 9) / 10) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// ---- RecordWriter ----

off_t RecordWriter::put(int type, std::string_view data) {
  off_t at = offset_;
  append_record(buffer_, type, data);
  offset_ += static_cast<off_t>(record_size(data.size()));
  if (buffer_.size() >= kWriteFlushAt) (void)flush();
  return at;
}

Status RecordWriter::flush() {
  if (error_) return std::unexpected(*error_);
  off_t at = offset_ - static_cast<off_t>(buffer_.size());
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::pwrite(fd_, buffer_.data() + done, buffer_.size() - done,
                         at + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = sys_error("write queue file");
      return std::unexpected(*error_);
    }
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
  return {};
}

Status RecordWriter::overwrite(off_t offset, std::string_view bytes) {
  if (error_) return std::unexpected(*error_);
  off_t buffered_from = offset_ - static_cast<off_t>(buffer_.size());
  if (offset >= buffered_from) {
    size_t pos = static_cast<size_t>(offset - buffered_from);
    if (pos + bytes.size() > buffer_.size()) return fail(Errc::kInvalid, "overwrite past end of queue file");
    buffer_.replace(pos, bytes.size(), bytes);
    return {};
  }
  if (offset + static_cast<off_t>(bytes.size()) > buffered_from) {
    // Straddles the flushed and buffered parts: flush first.
    if (auto st = flush(); !st) return st;
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = sys_error("write queue file");
      return std::unexpected(*error_);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

// ---- RecordReader ----

Result<int> RecordReader::get_byte() {
  if (buf_pos_ >= buf_.size()) {
    buf_start_ += static_cast<off_t>(buf_.size());
    buf_.resize(kReadChunk);
    buf_pos_ = 0;
    ssize_t n;
    do {
      n = ::read(fd_, buf_.data(), buf_.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      buf_.clear();
      return sys_fail("read");
    }
    buf_.resize(static_cast<size_t>(n));
    if (n == 0) return -1;
  }
  ++offset_;
  return static_cast<unsigned char>(buf_[buf_pos_++]);
}

Status RecordReader::read_exact(std::string& out, size_t n) {
  out.clear();
  while (out.size() < n) {
    if (buf_pos_ >= buf_.size()) {
      auto c = get_byte();  // refills the buffer
      if (!c) return std::unexpected(c.error());
      if (*c < 0) return fail(Errc::kEof, "");
      out.push_back(static_cast<char>(*c));
      continue;
    }
    size_t take = std::min(n - out.size(), buf_.size() - buf_pos_);
    out.append(buf_, buf_pos_, take);
    buf_pos_ += take;
    offset_ += static_cast<off_t>(take);
  }
  return {};
}

Result<std::optional<unsigned char>> RecordReader::peek() {
  auto c = get_byte();
  if (!c) return std::unexpected(c.error());
  if (*c < 0) return std::optional<unsigned char>{};
  --buf_pos_;
  --offset_;
  return std::optional<unsigned char>(static_cast<unsigned char>(*c));
}

Status RecordReader::seek(off_t offset) {
  if (offset < 0) return fail(Errc::kInvalid, "negative seek offset");
  if (offset >= buf_start_ && offset <= buf_start_ + static_cast<off_t>(buf_.size())) {
    buf_pos_ = static_cast<size_t>(offset - buf_start_);
    offset_ = offset;
    return {};
  }
  if (::lseek(fd_, offset, SEEK_SET) < 0) return sys_fail("seek");
  buf_.clear();
  buf_pos_ = 0;
  buf_start_ = offset;
  offset_ = offset;
  return {};
}

Result<std::optional<Record>> RecordReader::next_raw() {
  Record r;
  r.offset = offset_;
  auto type = get_byte();
  if (!type) return std::unexpected(type.error());
  if (*type < 0) return std::optional<Record>{};
  r.type = *type;
  uint32_t len = 0;
  for (int shift = 0;; shift += 7) {
    if (shift > kMaxLengthShift) {
      return fail(Errc::kInvalid, "too many length bits, record type " + std::to_string(r.type));
    }
    auto c = get_byte();
    if (!c) return std::unexpected(c.error());
    if (*c < 0) {
      return fail(Errc::kEof, "unexpected EOF reading length, record type " + std::to_string(r.type));
    }
    len |= static_cast<uint32_t>(*c & 0x7f) << shift;
    if ((*c & 0x80) == 0) break;
  }
  auto slen = static_cast<int32_t>(len);
  if (slen < 0 || (max_size_ > 0 && static_cast<size_t>(slen) > max_size_)) {
    return fail(slen < 0 ? Errc::kInvalid : Errc::kTooLarge,
                "illegal length " + std::to_string(slen) + ", record type " + std::to_string(r.type));
  }
  if (auto st = read_exact(r.data, static_cast<size_t>(slen)); !st) {
    if (st.error().code != Errc::kEof) return std::unexpected(st.error());
    return fail(Errc::kEof, "unexpected EOF in data, record type " + std::to_string(r.type) +
                                " length " + std::to_string(slen));
  }
  return std::optional<Record>(std::move(r));
}

Result<std::optional<Record>> RecordReader::next() {
  for (;;) {
    auto r = next_raw();
    if (!r || !*r || mode_ == Mode::kRaw) return r;
    Record& rec = **r;
    if (rec.type == rec::kPadding) continue;
    if (rec.type == rec::kEnd && ::lseek(fd_, 0, SEEK_CUR) < 0) {
      // Pointer-following readers need a seekable file (as Postfix's do).
      return std::unexpected(sys_error("seek error after reading END record"));
    }
    if (rec.type != rec::kPointer) return r;
    auto target = parse_pointer(rec.data);
    if (!target) {
      return fail(Errc::kInvalid, "malformed pointer record value: " +
                                         printable(trim_left(std::string_view(rec.data).substr(0, rec.data.find('\0')))));
    }
    if (*target == 0) continue;
    if (*target <= rec.offset && ++reverse_jumps_ > kReverseJumpLimit) {
      return fail(Errc::kInvalid, "too many reverse jump records");
    }
    if (auto st = seek(*target); !st) return std::unexpected(st.error());
  }
}

}  // namespace postern
