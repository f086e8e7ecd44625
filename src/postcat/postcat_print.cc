// The record-by-record printer behind postcat. Its output and warnings
// follow Debian's Postfix 3.7 postcat, including for damaged files
// (tests/system/test_postcat.py compares the two).
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "global/rec_type.h"
#include "global/record.h"
#include "postcat/postcat.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::postcat {

namespace {

constexpr int kReverseJumpLimit = 10000;

enum class State { kEnvelope, kContent };  // the extracted segment is kEnvelope too

void out(std::string_view s) { std::fwrite(s.data(), 1, s.size(), stdout); }

// Postfix prints most record payloads as C strings: up to the first NUL.
std::string_view c_string(std::string_view s) { return s.substr(0, s.find('\0')); }

// strtol()-like: leading blanks, sign, digits; 0 when there are none.
long leading_long(std::string_view s, bool* ok = nullptr) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '\v')) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  size_t digits_from = i;
  unsigned long long v = 0;
  bool overflow = false;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    if (v > (static_cast<unsigned long long>(LONG_MAX) - 9) / 10) overflow = true;
    else v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  if (ok) *ok = i > digits_from;
  if (i == digits_from) return 0;
  if (overflow) return neg ? LONG_MIN : LONG_MAX;
  return neg ? -static_cast<long>(v) : static_cast<long>(v);
}

// asctime(localtime(t)) without its newline.
std::string asctime_of(long t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  if (::localtime_r(&tt, &tm) == nullptr) return "(invalid time)";
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11) return "(invalid time)";
  return fmt::format("{} {}{:3d} {:02d}:{:02d}:{:02d} {}", kDays[tm.tm_wday], kMonths[tm.tm_mon], tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, 1900LL + tm.tm_year);
}

class Printer {
 public:
  Printer(int fd, const std::string& name, const Options& opts)
      : fd_(fd),
        name_(name),
        o_(opts),
        reader_(fd, name, 0,
                opts.verbose ? RecordReader::Mode::kRaw : RecordReader::Mode::kFollowPointers) {}

  void run() {
    if (o_.start > 0) {
      if (!reader_.seek(o_.start)) log::fatal("seek error: {}", std::strerror(errno ? errno : EINVAL));
    } else {
      // A plausible queue file starts with an envelope record.
      auto first = reader_.peek();
      if (!first) fatal_read(first.error());
      if (!*first) return;
      if (rec::kEnvelopeTypes.find(static_cast<char>(**first)) == std::string_view::npos) {
        log::warn("{}: input is not a valid queue file", name_);
        return;
      }
      // The section line comes only once the first record was read.
      off_t offset = reader_.offset();
      auto r = reader_.next();
      if (!r) fatal_read(r.error());
      if (o_.envelope) out(fmt::format("*** ENVELOPE RECORDS {} ***\n", name_));
      if (!*r || !record(**r, offset)) return;
    }
    for (;;) {
      off_t offset = reader_.offset();
      auto r = reader_.next();
      if (!r) fatal_read(r.error());
      if (!*r) return;
      if (!record(**r, offset)) return;
    }
  }

 private:
  [[noreturn]] void fatal_read(const Error& e) {
    log::warn("{}: {}", name_, e.text);
    log::fatal("record read error");
  }

  void prefix(off_t offset, int type) {
    if (o_.offsets) out(fmt::format("{:9} ", static_cast<long long>(offset)));
    if (o_.dec_types) out(fmt::format("{:3} ", type));
  }

  // Inside the content a record is shown while it belongs to the header
  // (-h) or the body (-b); the two are tracked separately, as Postfix does:
  // a piece that continues an unterminated header line still counts as
  // header text (except with -v, which shows pieces one by one), while the
  // body starts at the first non-header piece.
  bool shown() const {
    if (state_ == State::kEnvelope) return o_.envelope;
    return (in_header_ && o_.header) || (in_body_ && o_.body);
  }

  void start_content() {
    state_ = State::kContent;
    in_header_ = true;
    in_body_ = false;
    prev_cont_ = false;
  }

  // Continues reading after the content (the X record), when known.
  void skip_content() {
    if (content_end_ > 0) seek_or_die(content_end_);
  }

  void marker(off_t offset, int type, std::string_view what) {
    if (!o_.envelope) return;
    prefix(offset, type);
    out(fmt::format("*** {} {} ***\n", what, name_));
  }

  // Handles one record; false ends the file.
  bool record(const Record& r, off_t offset) {
    switch (r.type) {
      case rec::kMessage:
        if (state_ != State::kEnvelope) log::warn("{}: out-of-order message content marker", name_);
        marker(offset, r.type, "MESSAGE CONTENTS");
        start_content();
        if (!o_.header && !o_.body) skip_content();
        return true;
      case rec::kExtracted:
        if (state_ == State::kEnvelope) log::warn("{}: out-of-order extracted segment marker", name_);
        if (o_.envelope && line_open_) out("\n");  // end a line left open by L records
        if (o_.envelope) line_open_ = false;
        marker(offset, r.type, "HEADER EXTRACTED");
        if (!o_.envelope) return false;  // nothing after this is shown
        state_ = State::kEnvelope;
        return true;
      case rec::kEnd:
        if (state_ != State::kEnvelope) log::warn("{}: out-of-order message end marker", name_);
        marker(offset, r.type, "MESSAGE FILE END");
        return o_.raw && o_.verbose;  // -rv shows what follows, too
      default:
        break;
    }
    if (state_ != State::kEnvelope && (r.type == rec::kNorm || r.type == rec::kCont)) {
      return text(r, offset);
    }
    if (shown()) {
      prefix(offset, r.type);
      show(r);
    }
    if (r.type == rec::kSize) size_record(r);
    if (o_.verbose && !o_.raw && r.type == rec::kPointer) follow(r);
    return true;
  }

  // Message content text; false ends the file.
  bool text(const Record& r, off_t offset) {
    std::string_view start = c_string(r.data);
    bool headerish = is_header_line(start) || (!start.empty() && (start[0] == ' ' || start[0] == '\t'));
    if (!headerish) in_body_ = true;
    if (in_header_ && !headerish && (o_.verbose || !prev_cont_)) {
      in_header_ = false;
      if (!o_.body) {
        if (!o_.envelope) return false;  // -h alone: done
        if (o_.header) skip_content();
        prev_cont_ = false;
        return true;
      }
    }
    prev_cont_ = r.type == rec::kCont;
    if (!shown()) return true;
    prefix(offset, r.type);
    if (o_.verbose) out(r.type == rec::kNorm ? "regular_text: " : "unterminated_text: ");
    out(r.data);
    if (r.type == rec::kNorm || o_.offsets || o_.verbose) {
      out("\n");
      line_open_ = false;
    } else {
      line_open_ = true;
    }
    return true;
  }

  void show(const Record& r) {
    switch (r.type) {
      case rec::kTime:
        out(fmt::format("{}: {}\n", rec::type_name(r.type), asctime_of(leading_long(c_string(r.data)))));
        return;
      case rec::kWarn:
        out(fmt::format("{}: {}\n", rec::type_name(r.type), asctime_of(leading_long(c_string(r.data)))));
        return;
      case rec::kAttr: {
        // name = value, blanks allowed around both; no blanks inside the name.
        std::string_view data = c_string(r.data);
        size_t i = data.find_first_not_of(" \t\r\n");
        if (i == std::string_view::npos) i = data.size();
        size_t name_end = data.find_first_of(" \t\r\n=", i);
        if (name_end == std::string_view::npos) name_end = data.size();
        std::string_view n = data.substr(i, name_end - i);
        size_t eq = data.find_first_not_of(" \t\r\n", name_end);
        if (n.empty()) {
          log::warn("{}: malformed attribute: missing attribute name: {}", name_, printable(data));
          return;
        }
        if (eq == std::string_view::npos || data[eq] != '=') {
          log::warn("{}: malformed attribute: missing '=' after attribute name: {}", name_, printable(data));
          return;
        }
        std::string_view v = trim(data.substr(eq + 1));
        if (n == "create_time") {
          out(fmt::format("create_time: {}\n", asctime_of(leading_long(v))));
        } else {
          out(fmt::format("{}: {}={}\n", rec::type_name(r.type), n, v));
        }
        return;
      }
      case rec::kNorm:
        if (o_.verbose) out("regular_text: ");
        out(r.data);
        out("\n");
        return;
      case rec::kCont:  // content_filter outside the content: shown whole
        out(fmt::format("{}: ", rec::type_name(r.type)));
        out(r.data);
        out("\n");
        return;
      default:  // shown as a C string: up to the first NUL
        out(fmt::format("{}: ", rec::type_name(r.type)));
        out(c_string(r.data));
        out("\n");
        return;
    }
  }

  // The C record: check it once; without -e, jump to the content.
  void size_record(const Record& r) {
    if (size_seen_) {
      log::warn("file contains multiple size records");
      return;
    }
    size_seen_ = true;
    bool ok1 = false, ok2 = false;
    std::string_view s = c_string(r.data);
    long size = leading_long(s, &ok1);
    long data_offset = -1;
    if (ok1) {
      // Skip the first number as sscanf("%ld %ld") would.
      size_t i = s.find_first_not_of(" \t\n\r\f\v");
      if (i != std::string_view::npos && (s[i] == '+' || s[i] == '-')) ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      long v = leading_long(s.substr(i), &ok2);
      if (ok2) data_offset = v;
    }
    if (!ok1 || !ok2 || size <= 0 || data_offset <= 0) {
      log::warn("invalid size record: {}", printable(c_string(r.data)));
    } else {
      content_end_ = data_offset + size;
    }
    if (!o_.envelope) {
      if (data_offset < 0) log::fatal("seek error: Invalid argument");
      seek_or_die(data_offset);
      start_content();
    }
  }

  void seek_or_die(off_t offset) {
    if (::lseek(fd_, 0, SEEK_CUR) < 0) log::fatal("seek error: {}", std::strerror(errno));
    if (auto st = reader_.seek(offset); !st) log::fatal("seek error: {}", st.error().text);
  }

  // -v without -r: postcat itself follows pointer records.
  void follow(const Record& r) {
    auto target = parse_pointer(r.data);
    if (!target) {
      log::warn("{}: malformed pointer record value: {}", name_, printable(trim_left(c_string(r.data))));
      log::fatal("bad pointer record, or input is not seekable");
    }
    if (*target == 0) return;
    if (*target <= r.offset && ++reverse_jumps_ > kReverseJumpLimit) {
      log::warn("{}: too many reverse jump records", name_);
      log::fatal("record read error");
    }
    if (!reader_.seek(*target)) log::fatal("bad pointer record, or input is not seekable");
  }

  int fd_;
  const std::string& name_;
  const Options& o_;
  RecordReader reader_;
  State state_ = State::kEnvelope;
  bool in_header_ = false;
  bool in_body_ = false;
  bool prev_cont_ = false;  // the previous text record was an unterminated piece
  bool line_open_ = false;  // output ends inside a line (an L record shown without newline)
  off_t content_end_ = 0;   // where the C record says X is
  bool size_seen_ = false;
  int reverse_jumps_ = 0;
};

}  // namespace

bool is_header_line(std::string_view line) {
  size_t i = 0;
  for (; i < line.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (c == ':') return i > 0;
    if (c == ' ' || c == '\t') break;
    if (c < 0x21 || c > 0x7e) return false;
  }
  if (i == 0 || i >= line.size()) return false;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i < line.size() && line[i] == ':';
}

void print_queue_file(int fd, const std::string& name, const Options& opts) {
  Printer(fd, name, opts).run();
}

}  // namespace postern::postcat
