#include "global/mime_state.h"

#include "util/strings.h"

namespace postern {

MimeState::MimeState(MimeCallbacks callbacks, MimeLimits limits)
    : cb_(std::move(callbacks)), limits_(limits) {}

bool MimeState::is_header_start(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && line[i] != ':') {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (c <= ' ' || c >= 127) return false;
    ++i;
  }
  return i > 0 && i < line.size();
}

std::string header_parameter(std::string_view value, std::string_view name) {
  size_t pos = value.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = trim_left(value.substr(pos + 1));
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return {};
    std::string_view key = trim(rest.substr(0, eq));
    std::string_view v = trim_left(rest.substr(eq + 1));
    std::string out;
    size_t consumed = 0;
    if (!v.empty() && v.front() == '"') {
      size_t i = 1;
      for (; i < v.size() && v[i] != '"'; ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) ++i;
        out += v[i];
      }
      consumed = i + 1;
    } else {
      size_t end = v.find_first_of("; \t\r\n");
      out = std::string(v.substr(0, end));
      consumed = end == std::string_view::npos ? v.size() : end;
    }
    if (iequals(key, name)) return out;
    std::string_view after = consumed < v.size() ? v.substr(consumed) : std::string_view();
    size_t next = after.find(';');
    if (next == std::string_view::npos) return {};
    value = after;
    pos = next;
  }
  return {};
}

void MimeState::inspect_header(std::string_view header) {
  if (!limits_.mime_processing) return;
  size_t colon = header.find(':');
  std::string_view name = trim(header.substr(0, colon));
  std::string_view value = trim(header.substr(colon + 1));
  if (iequals(name, "Content-Type")) {
    std::string type = lowercase(trim(value.substr(0, value.find(';'))));
    if (type.starts_with("multipart/")) {
      part_.multipart = true;
      part_.boundary = header_parameter(value, "boundary");
    } else if (type == "message/rfc822") {
      part_.message_rfc822 = true;
    }
  } else if (iequals(name, "Content-Transfer-Encoding")) {
    part_.encoding = lowercase(trim(value));
  }
}

void MimeState::flush_header() {
  if (pending_.empty()) return;
  if (pending_truncated_) errors_ |= kErrTruncatedHeader;
  inspect_header(pending_);
  if (cb_.header) cb_.header(header_class_, pending_);
  pending_.clear();
  pending_truncated_ = false;
}

void MimeState::end_headers() {
  flush_header();
  if (cb_.header_end) cb_.header_end(header_class_);
  state_ = State::kBody;
  body_encoding_ = part_.encoding;
  if (part_.encoding != "" && part_.encoding != "7bit" && part_.encoding != "8bit" &&
      part_.encoding != "binary" && (part_.multipart || part_.message_rfc822))
    errors_ |= kEncodingDomain;
  if (part_.multipart && !part_.boundary.empty() &&
      part_.boundary.size() <= limits_.boundary_length_limit) {
    if (static_cast<int>(stack_.size()) >= limits_.nesting_limit) {
      errors_ |= kErrNesting;
    } else {
      stack_.push_back({part_.boundary});
    }
  }
  // A message/rfc822 body begins with the attached message's headers.
  nested_next_ = part_.message_rfc822;
  if (nested_next_) {
    if (static_cast<int>(stack_.size()) >= limits_.nesting_limit) {
      errors_ |= kErrNesting;
      nested_next_ = false;
    } else {
      state_ = State::kHeaders;
      header_class_ = HeaderClass::kNested;
      part_ = PartInfo{};
    }
  }
}

void MimeState::body_line(std::string_view line, bool complete) {
  if (!line_continues_ && line.size() >= 2 && line[0] == '-' && line[1] == '-' && !stack_.empty()) {
    // A boundary line: "--boundary" starts a part, "--boundary--" ends the multipart.
    for (size_t depth = stack_.size(); depth-- > 0;) {
      const std::string& b = stack_[depth].boundary;
      std::string_view rest = line.substr(2);
      if (!rest.starts_with(b)) continue;
      std::string_view tail = trim_right(rest.substr(b.size()));
      if (tail != "" && tail != "--") continue;
      stack_.resize(depth + 1);
      if (cb_.body) cb_.body(line, complete);
      line_continues_ = !complete;
      if (tail == "--") {
        stack_.pop_back();
      } else {
        state_ = State::kHeaders;
        header_class_ = HeaderClass::kMultipart;
        part_ = PartInfo{};
      }
      return;
    }
  }
  if (body_encoding_ == "7bit" || body_encoding_.empty()) {
    for (unsigned char c : line)
      if (c >= 0x80) errors_ |= k8BitIn7BitBody;
  }
  if (cb_.body) cb_.body(line, complete);
  line_continues_ = !complete;
}

void MimeState::feed(std::string_view line, bool complete) {
  for (unsigned char c : line)
    if (c >= 0x80) saw_8bit_ = true;
  if (state_ == State::kHeaders) {
    bool continuation = line_continues_ || (!pending_.empty() && !line.empty() &&
                                            (line[0] == ' ' || line[0] == '\t'));
    if (continuation && !pending_.empty()) {
      if (!line_continues_) pending_ += '\n';
      if (pending_.size() + line.size() > limits_.header_size_limit) {
        pending_truncated_ = true;
        pending_.append(line.substr(0, limits_.header_size_limit - std::min(pending_.size(), limits_.header_size_limit)));
      } else {
        pending_.append(line);
      }
      line_continues_ = !complete;
      return;
    }
    if (!line_continues_ && is_header_start(line)) {
      flush_header();
      pending_ = std::string(line.substr(0, limits_.header_size_limit));
      pending_truncated_ = line.size() > limits_.header_size_limit;
      line_continues_ = !complete;
      return;
    }
    // Anything else ends the header block; the line itself is body.
    end_headers();
    if (state_ == State::kHeaders) {
      // message/rfc822: this line ends the part headers; the attached
      // message's headers start on the next line.
      if (cb_.body) cb_.body(line, complete);
      line_continues_ = !complete;
      return;
    }
  }
  if (!limits_.mime_processing) {
    if (cb_.body) cb_.body(line, complete);
    line_continues_ = !complete;
    return;
  }
  body_line(line, complete);
}

void MimeState::finish() {
  if (state_ == State::kHeaders) {
    flush_header();
    if (cb_.header_end) cb_.header_end(header_class_);
    state_ = State::kBody;
  }
}

}  // namespace postern
