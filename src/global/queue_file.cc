#include "global/queue_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "global/rec_type.h"
#include "util/strings.h"

namespace postern {

// ---- SizeRecord ----

std::string SizeRecord::format() const {
  return fmt::format("{:15} {:15} {:15} {:15} {:15} {:15}", content_size, data_offset, rcpt_count,
                     qmgr_flags, content_length, smtputf8);
}

Result<SizeRecord> SizeRecord::parse(std::string_view data) {
  // Older writers put fewer fields; the first three are required.
  auto fields = split(data, " ");
  if (fields.size() < 3 || fields.size() > 6) {
    return fail(Errc::kInvalid, "invalid size record: " + std::string(data));
  }
  long values[6] = {0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < fields.size(); ++i) {
    auto v = parse_long(fields[i]);
    if (!v || *v < 0) return fail(Errc::kInvalid, "invalid size record: " + std::string(data));
    values[i] = static_cast<long>(*v);
  }
  SizeRecord s{values[0], values[1], values[2], values[3], values[4], values[5]};
  if (fields.size() < 5) s.content_length = s.content_size;
  return s;
}

// ---- QueueFileWriter ----

void QueueFileWriter::size_record() { size_offset_ = w_.put(rec::kSize, size_.format()); }

void QueueFileWriter::time(long sec, long usec) { w_.put(rec::kTime, fmt::format("{} {}", sec, usec)); }

void QueueFileWriter::attr(std::string_view name, std::string_view value) {
  std::string data;
  data.reserve(name.size() + 1 + value.size());
  data.append(name).append("=").append(value);
  w_.put(rec::kAttr, data);
}

off_t QueueFileWriter::recipient(std::string_view addr, std::optional<std::string_view> orig) {
  if (orig) w_.put(rec::kOrigRecipient, *orig);
  ++rcpts_;
  return w_.put(rec::kRecipient, addr);
}

void QueueFileWriter::warning_time(long when) { w_.put(rec::kWarn, fmt::format("{:15}", when)); }

off_t QueueFileWriter::record(int type, std::string_view data) {
  if (rec::is_recipient_type(type)) ++rcpts_;
  return w_.put(type, data);
}

void QueueFileWriter::message_start() {
  w_.put(rec::kMessage, "");
  size_.data_offset = static_cast<long>(w_.offset());
}

void QueueFileWriter::content_line(std::string_view line, size_t line_limit) {
  if (line_limit == 0) line_limit = line.size() + 1;
  while (line.size() > line_limit) {
    w_.put(rec::kCont, line.substr(0, line_limit));
    line.remove_prefix(line_limit);
  }
  w_.put(rec::kNorm, line);
}

void QueueFileWriter::extracted_start() {
  size_.content_size = static_cast<long>(w_.offset()) - size_.data_offset;
  w_.put(rec::kExtracted, "");
}

void QueueFileWriter::end() { w_.put(rec::kEnd, ""); }

Status QueueFileWriter::commit(int fd, mode_t extra_mode) {
  if (!explicit_length_) size_.content_length = size_.content_size;
  if (!explicit_rcpt_) size_.rcpt_count = rcpts_;
  if (size_offset_) {
    // Same length as the placeholder: type byte, one length byte, 95 bytes.
    if (auto st = w_.overwrite(*size_offset_ + 2, size_.format()); !st) return st;
  }
  if (auto st = w_.flush(); !st) return st;
  if (::fchmod(fd, kQueueModeComplete | extra_mode) < 0) return sys_fail("fchmod queue file");
  if (::fsync(fd) < 0) return sys_fail("fsync queue file");
  return {};
}

// ---- Reading ----

std::optional<std::string> QueueFileInfo::attr(std::string_view name) const {
  for (const auto& [n, v] : attrs) {
    if (n == name) return v;
  }
  return std::nullopt;
}

namespace {

std::optional<long> parse_number(std::string_view s) {
  auto v = parse_long(trim(s));
  if (!v) return std::nullopt;
  return static_cast<long>(*v);
}

class Parser {
 public:
  Parser(RecordReader& r, const std::string& name) : r_(r), name_(name) {}

  Result<QueueFileInfo> run(bool extracted) {
    if (auto st = envelope(); !st) return std::unexpected(st.error());
    if (!extracted) return std::move(info_);
    if (auto st = skip_content(); !st) return std::unexpected(st.error());
    if (auto st = extracted_segment(); !st) return std::unexpected(st.error());
    return std::move(info_);
  }

 private:
  Error bad(std::string text) const { return Error{Errc::kInvalid, name_ + ": " + text}; }

  Result<Record> next(std::string_view where) {
    auto rec = r_.next();
    if (!rec) return std::unexpected(Error{rec.error().code, name_ + ": " + rec.error().text});
    if (!*rec) return std::unexpected(Error{Errc::kEof, fmt::format("{}: premature end of file in {}", name_, where)});
    return std::move(**rec);
  }

  // Records that may appear in the envelope and the extracted segment.
  Status common(const Record& rec) {
    switch (rec.type) {
      case rec::kAttr: {
        size_t eq = rec.data.find('=');
        if (eq == std::string::npos || eq == 0) {
          return std::unexpected(bad("malformed attribute: " + printable(rec.data)));
        }
        std::string n = rec.data.substr(0, eq), v = rec.data.substr(eq + 1);
        if (n == "create_time") {
          info_.create_time = parse_number(v).value_or(0);
        } else if (n == "dsn_orig_rcpt") {
          dsn_orcpt_ = v;
        } else if (n == "notify_flags") {
          notify_ = static_cast<int>(parse_number(v).value_or(0));
        }
        info_.attrs.emplace_back(std::move(n), std::move(v));
        return {};
      }
      case rec::kOrigRecipient:
        orig_ = rec.data;
        return {};
      case rec::kRecipient:
      case rec::kDone:
      case rec::kCanceled: {
        QueueRecipient r;
        r.address = rec.data;
        r.orig = std::exchange(orig_, {});
        r.dsn_orcpt = std::exchange(dsn_orcpt_, {});
        r.notify_flags = std::exchange(notify_, 0);
        r.offset = rec.offset;
        r.status = static_cast<char>(rec.type);
        info_.recipients.push_back(std::move(r));
        return {};
      }
      case rec::kFullName:
        info_.fullname = rec.data;
        return {};
      case rec::kFilter:
        info_.content_filter = rec.data;
        return {};
      case rec::kInspect:
        info_.inspector = rec.data;
        return {};
      case rec::kRedirect:
        info_.redirect = rec.data;
        return {};
      default:
        return {};  // K, P, r, e, o, n, V, <, i: kept by the file, not needed here
    }
  }

  Status envelope() {
    bool first = true;
    for (;;) {
      auto rec = next("envelope");
      if (!rec) return std::unexpected(rec.error());
      if (rec->type == rec::kMessage) return {};
      if (rec::kEnvelopeTypes.find(static_cast<char>(rec->type)) == std::string_view::npos) {
        return std::unexpected(bad(fmt::format("unexpected record type {} in envelope", rec->type)));
      }
      switch (rec->type) {
        case rec::kSize: {
          if (!first) return std::unexpected(bad("size record is not the first record"));
          auto s = SizeRecord::parse(rec->data);
          if (!s) return std::unexpected(bad(s.error().text));
          info_.size = *s;
          break;
        }
        case rec::kTime: {
          auto parts = split(rec->data, " ");
          auto sec = parts.empty() ? std::nullopt : parse_number(parts[0]);
          if (!sec) return std::unexpected(bad("malformed arrival time: " + printable(rec->data)));
          info_.arrival_sec = *sec;
          info_.arrival_usec = parts.size() > 1 ? parse_number(parts[1]).value_or(0) : 0;
          break;
        }
        case rec::kCreateTime:
          info_.create_time = parse_number(rec->data).value_or(0);
          break;
        case rec::kWarn:
          info_.warning_time = parse_number(rec->data).value_or(0);
          break;
        case rec::kSender:
          info_.sender = rec->data;
          have_sender_ = true;
          break;
        case rec::kVerp:
          info_.verp = rec->data;
          break;
        default:
          if (auto st = common(*rec); !st) return st;
      }
      first = false;
    }
  }

  Status skip_content() {
    info_.content_offset = r_.offset();
    // The size record says where X is; trust it only when X is there.
    if (info_.size && info_.size->data_offset == info_.content_offset) {
      off_t x = info_.content_offset + info_.size->content_size;
      if (auto st = r_.seek(x); st) {
        auto c = r_.peek();
        if (c && *c && **c == rec::kExtracted) {
          auto rec = next("content");
          if (!rec) return std::unexpected(rec.error());
          info_.extracted_offset = rec->offset;
          return {};
        }
      }
      if (auto st = r_.seek(info_.content_offset); !st) return st;
    }
    for (;;) {
      auto rec = next("message content");
      if (!rec) return std::unexpected(rec.error());
      if (rec->type == rec::kExtracted) {
        info_.extracted_offset = rec->offset;
        return {};
      }
      if (rec::kContentTypes.find(static_cast<char>(rec->type)) == std::string_view::npos) {
        return std::unexpected(bad(fmt::format("unexpected record type {} in message content", rec->type)));
      }
    }
  }

  Status extracted_segment() {
    for (;;) {
      auto rec = next("extracted segment");
      if (!rec) return std::unexpected(rec.error());
      if (rec->type == rec::kEnd) {
        info_.has_end = true;
        return {};
      }
      if (rec::kExtractedTypes.find(static_cast<char>(rec->type)) == std::string_view::npos) {
        return std::unexpected(bad(fmt::format("unexpected record type {} in extracted segment", rec->type)));
      }
      if (auto st = common(*rec); !st) return st;
    }
  }

  RecordReader& r_;
  const std::string& name_;
  QueueFileInfo info_;
  std::string orig_, dsn_orcpt_;
  int notify_ = 0;
  bool have_sender_ = false;
};

}  // namespace

Result<QueueFileInfo> read_queue_file(int fd, const std::string& name, bool extracted, size_t max_record) {
  RecordReader reader(fd, name, max_record, RecordReader::Mode::kFollowPointers);
  return Parser(reader, name).run(extracted);
}

Result<QueueFileInfo> read_queue_file(const std::string& path, bool extracted) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sys_fail("open " + path);
  return read_queue_file(fd.get(), path, extracted);
}

Status mark_recipient(int fd, off_t offset, char status) {
  char type = 0;
  ssize_t n;
  do {
    n = ::pread(fd, &type, 1, offset);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return sys_fail("read queue file");
  if (n == 0 || !rec::is_recipient_type(type)) {
    return fail(Errc::kInvalid, fmt::format("no recipient record at offset {}", offset));
  }
  do {
    n = ::pwrite(fd, &status, 1, offset);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return sys_fail("update queue file");
  return {};
}

}  // namespace postern
