#include "smtp/reply.h"

#include <algorithm>
#include <cctype>

#include "global/dsn.h"

namespace postern::smtp {

std::string Reply::text() const {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += ' ';
    out += l;
  }
  return out;
}

std::string default_dsn(int code) {
  int k = code / 100;
  if (k != 2 && k != 4 && k != 5) k = 4;
  return std::to_string(k) + ".0.0";
}

namespace {

std::string printable_start(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 60)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 32 || u > 126) ? '?' : c;
  }
  return out;
}

}  // namespace

Result<Reply> parse_reply(const std::vector<std::string>& lines) {
  if (lines.empty()) return fail(Errc::kInvalid, "empty reply");
  Reply r;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    bool ok = l.size() >= 3 && std::isdigit(static_cast<unsigned char>(l[0])) &&
              std::isdigit(static_cast<unsigned char>(l[1])) &&
              std::isdigit(static_cast<unsigned char>(l[2])) &&
              (l.size() == 3 || l[3] == ' ' || l[3] == '-');
    if (!ok) return fail(Errc::kInvalid, "malformed reply: " + printable_start(l));
    int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    if (code < 200 || code > 599)
      return fail(Errc::kInvalid, "malformed reply: " + printable_start(l));
    bool last = l.size() == 3 || l[3] == ' ';
    if (i == 0) r.code = code;
    else if (code != r.code) return fail(Errc::kInvalid, "malformed reply: mixed reply codes");
    if (last != (i + 1 == lines.size()))
      return fail(Errc::kInvalid, "malformed reply: " + printable_start(l));
  }
  r.lines = lines;
  std::string_view first = lines[0];
  std::string_view text = first.size() > 4 ? first.substr(4) : std::string_view();
  auto d = leading_dsn_status(text);
  if (d && (*d)[0] - '0' == r.code / 100) {
    r.dsn = *d;
  } else if (d && (r.code / 100 == 4 || r.code / 100 == 5)) {
    r.dsn = *d;
    r.dsn[0] = static_cast<char>('0' + r.code / 100);
  } else {
    r.dsn = default_dsn(r.code);
  }
  return r;
}

Result<Reply> read_reply(Stream& stream, Deadline deadline, const ReplyLimits& limits) {
  std::vector<std::string> lines;
  std::string line;
  size_t total = 0;
  auto old_timeout = stream.timeout();
  struct Restore {
    Stream& s;
    std::chrono::milliseconds t;
    ~Restore() { s.set_timeout(t); }
  } restore{stream, old_timeout};
  for (;;) {
    if (!stream.has_buffered_input()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return fail(Errc::kTimeout, "timeout");
      stream.set_timeout(left);
    }
    auto chunk = stream.read_some(1);
    if (!chunk) {
      if (chunk.error().code == Errc::kEof) return fail(Errc::kEof, "lost connection");
      return std::unexpected(chunk.error());
    }
    if (chunk->empty()) continue;
    char c = (*chunk)[0];
    if (++total > limits.max_bytes) return fail(Errc::kInvalid, "reply too long");
    if (c != '\n') {
      if (line.size() < limits.line_length) line += c;
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    bool last = !(line.size() >= 4 && line[3] == '-');
    lines.push_back(std::move(line));
    line.clear();
    if (lines.size() > limits.max_lines) return fail(Errc::kInvalid, "reply has too many lines");
    // A malformed line ends the reply at once: waiting for more would hang.
    const std::string& l = lines.back();
    bool digits = l.size() >= 3 && std::isdigit(static_cast<unsigned char>(l[0])) &&
                  std::isdigit(static_cast<unsigned char>(l[1])) &&
                  std::isdigit(static_cast<unsigned char>(l[2]));
    if (last || !digits) break;
  }
  return parse_reply(lines);
}

void append_data_line(std::string& out, std::string_view line) {
  if (!line.empty() && line[0] == '.') out += '.';
  out.append(line);
  out += "\r\n";
}

}  // namespace postern::smtp
