#include "maps/map_source.h"

#include <cerrno>
#include <cstring>
#include <memory>

#include "util/strings.h"

namespace postern::maps {

bool LogicalLineReader::read_physical(std::string& line) {
  line.clear();
  int c;
  bool any = false;
  while ((c = getc_unlocked(in_)) != EOF) {
    any = true;
    if (c == '\n') break;
    if (line.size() <= kMaxLogicalLine) line.push_back(char(c));
  }
  if (!any) return false;
  ++physical_;
  return true;
}

static bool is_skipped(std::string_view line) {
  std::string_view t = trim_left(line);
  return t.empty() || t.front() == '#';
}

Result<std::optional<SourceLine>> LogicalLineReader::next() {
  std::string line;
  while (!eof_) {
    if (!read_physical(line)) {
      eof_ = true;
      break;
    }
    if (is_skipped(line)) continue;
    bool continuation = line[0] == ' ' || line[0] == '\t';
    if (continuation && pending_) {
      pending_->text += trim_right(line);
      if (pending_->text.size() > kMaxLogicalLine)
        return fail(Errc::kTooLarge, "line " + std::to_string(pending_->number) + ": line too long");
      continue;
    }
    std::optional<SourceLine> done = std::move(pending_);
    pending_ = SourceLine{physical_, std::string(continuation ? trim_left(trim_right(line))
                                                              : trim_right(line))};
    if (pending_->text.size() > kMaxLogicalLine)
      return fail(Errc::kTooLarge, "line " + std::to_string(physical_) + ": line too long");
    if (done) return done;
  }
  std::optional<SourceLine> done = std::move(pending_);
  pending_.reset();
  return done;
}

Result<std::vector<SourceLine>> read_logical_lines(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "r"), std::fclose);
  if (!f) {
    int e = errno;
    return fail(e == ENOENT ? Errc::kNotFound : Errc::kIo,
                "open " + path + ": " + std::strerror(e));
  }
  LogicalLineReader reader(f.get());
  std::vector<SourceLine> lines;
  for (;;) {
    auto l = reader.next();
    if (!l) return fail(l.error().code, path + ", " + l.error().text);
    if (!*l) break;
    lines.push_back(std::move(**l));
  }
  if (std::ferror(f.get())) return fail(Errc::kIo, "read " + path + ": " + std::strerror(errno));
  return lines;
}

KeyValue split_key_value(std::string_view text) {
  size_t end = text.find_first_of(" \t");
  if (end == std::string_view::npos) return {text, {}};
  return {text.substr(0, end), trim(text.substr(end))};
}

}  // namespace postern::maps
