// 8-bit to 7-bit conversion for a server without 8BITMIME, as Postfix's
// client does: each MIME part declared "Content-Transfer-Encoding: 8bit"
// (or binary) is re-encoded as quoted-printable and its header changed to
// say so; multipart and message/rfc822 containers declared 8bit become
// 7bit and their parts are converted in turn. Headers are left as they are;
// parts without a Content-Transfer-Encoding header count as 7bit, as in
// Postfix.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp {

class Downgrader {
 public:
  using Output = std::function<void(std::string_view line)>;
  explicit Downgrader(Output out) : out_(std::move(out)) {}
  // One complete content line without its line ending.
  void line(std::string_view l);
  // Flushes a header block still being collected (a message that ends
  // inside its headers).
  void finish();

 private:
  struct Part {
    std::string type = "text/plain";
    std::string boundary;
    std::string encoding = "7bit";
  };
  void end_headers();
  void body_line(std::string_view l);
  bool boundary_line(std::string_view l);

  Output out_;
  bool in_headers_ = true;
  std::vector<std::string> headers_;  // logical headers of the current part
  bool encode_ = false;               // body of the current part goes out as QP
  bool digest_ = false;               // current container is multipart/digest
  std::vector<std::pair<std::string, bool>> boundaries_;  // (boundary, digest)
};

// Quoted-printable lines for one line of 8-bit text (soft breaks at 76).
std::vector<std::string> qp_encode_line(std::string_view line);

// Whether any byte of `s` has the high bit set.
bool has_8bit(std::string_view s);

}  // namespace postern::smtp
