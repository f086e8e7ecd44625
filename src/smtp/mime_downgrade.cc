#include "smtp/mime_downgrade.h"

#include <cctype>

#include "util/strings.h"

namespace postern::smtp {

bool has_8bit(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) & 0x80) return true;
  return false;
}

std::vector<std::string> qp_encode_line(std::string_view line) {
  static const char hex[] = "0123456789ABCDEF";
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < line.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    bool last = i + 1 == line.size();
    std::string piece;
    if (c == '=' || c >= 127 || (c < 32 && c != '\t') || ((c == ' ' || c == '\t') && last)) {
      piece = {'=', hex[c >> 4], hex[c & 15]};
    } else {
      piece = std::string(1, static_cast<char>(c));
    }
    // 76 characters at most, including the "=" of a soft break.
    if (cur.size() + piece.size() > 75 && !(last && cur.size() + piece.size() <= 76)) {
      out.push_back(cur + "=");
      cur.clear();
    }
    cur += piece;
  }
  out.push_back(cur);
  return out;
}

namespace {

// "Content-Type: multipart/mixed; boundary=x" → name "content-type".
std::string header_name(std::string_view h) {
  size_t colon = h.find(':');
  if (colon == std::string_view::npos) return {};
  return lowercase(trim(h.substr(0, colon)));
}

std::string header_value(std::string_view h) {
  size_t colon = h.find(':');
  std::string v(trim(h.substr(colon + 1)));
  for (auto& c : v)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return v;
}

// The value of parameter `name` ("boundary") in a structured header value.
std::string parameter(std::string_view value, std::string_view name) {
  size_t pos = 0;
  while ((pos = value.find(';', pos)) != std::string_view::npos) {
    ++pos;
    std::string_view rest = trim(value.substr(pos));
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos) continue;
    if (!iequals(trim(rest.substr(0, eq)), name)) continue;
    std::string_view v = trim_left(rest.substr(eq + 1));
    if (!v.empty() && v[0] == '"') {
      size_t end = v.find('"', 1);
      return std::string(v.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
    }
    size_t end = v.find_first_of("; \t");
    return std::string(v.substr(0, end));
  }
  return {};
}

}  // namespace

void Downgrader::line(std::string_view l) {
  if (in_headers_) {
    if (l.empty()) {
      end_headers();
      return;
    }
    if ((l[0] == ' ' || l[0] == '\t') && !headers_.empty()) {
      headers_.back() += '\n';
      headers_.back() += l;
      return;
    }
    // A line that is no header ends the headers (it is body text).
    if (l.find(':') == std::string_view::npos && !l.starts_with("From ")) {
      if (boundary_line(l)) return;
      end_headers();
      body_line(l);
      return;
    }
    headers_.emplace_back(l);
    return;
  }
  if (boundary_line(l)) return;
  body_line(l);
}

bool Downgrader::boundary_line(std::string_view l) {
  if (!l.starts_with("--") || boundaries_.empty()) return false;
  std::string_view b = trim_right(l.substr(2));
  for (size_t i = boundaries_.size(); i-- > 0;) {
    const std::string& want = boundaries_[i].first;
    bool close = b.size() == want.size() + 2 && b.starts_with(want) && b.ends_with("--");
    if (b != want && !close) continue;
    if (in_headers_) end_headers();
    boundaries_.resize(close ? i : i + 1);
    out_(l);
    if (close) {
      // The epilogue of the enclosing multipart goes out as it is.
      in_headers_ = false;
      encode_ = false;
    } else {
      in_headers_ = true;
      digest_ = boundaries_.back().second;
      headers_.clear();
    }
    return true;
  }
  return false;
}

void Downgrader::end_headers() {
  Part p;
  if (digest_) p.type = "message/rfc822";
  size_t cte = headers_.size();
  for (size_t i = 0; i < headers_.size(); ++i) {
    std::string name = header_name(headers_[i]);
    if (name == "content-type") {
      std::string v = header_value(headers_[i]);
      std::string t = lowercase(trim(v.substr(0, v.find(';'))));
      if (!t.empty()) p.type = t;
      p.boundary = parameter(v, "boundary");
    } else if (name == "content-transfer-encoding") {
      p.encoding = lowercase(header_value(headers_[i]));
      cte = i;
    }
  }
  bool eight = p.encoding == "8bit" || p.encoding == "binary";
  bool multipart = p.type.starts_with("multipart/") && !p.boundary.empty();
  bool message = p.type == "message/rfc822";
  if (eight && cte < headers_.size())
    headers_[cte] = (multipart || message) ? "Content-Transfer-Encoding: 7bit"
                                           : "Content-Transfer-Encoding: quoted-printable";
  for (const auto& h : headers_) {
    size_t start = 0;
    for (;;) {
      size_t nl = h.find('\n', start);
      out_(std::string_view(h).substr(start, nl == std::string::npos ? std::string::npos : nl - start));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  headers_.clear();
  out_("");
  encode_ = false;
  if (multipart) {
    boundaries_.emplace_back(p.boundary, p.type == "multipart/digest");
    in_headers_ = false;  // the preamble
  } else if (message) {
    in_headers_ = true;  // the nested message's headers follow
    digest_ = false;
  } else {
    in_headers_ = false;
    encode_ = eight;
  }
}

void Downgrader::body_line(std::string_view l) {
  if (!encode_) {
    out_(l);
    return;
  }
  for (const auto& piece : qp_encode_line(l)) out_(piece);
}

void Downgrader::finish() {
  if (in_headers_ && !headers_.empty()) {
    for (const auto& h : headers_) {
      size_t start = 0;
      for (;;) {
        size_t nl = h.find('\n', start);
        out_(std::string_view(h).substr(start, nl == std::string::npos ? std::string::npos : nl - start));
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
    }
    headers_.clear();
  }
}

}  // namespace postern::smtp
