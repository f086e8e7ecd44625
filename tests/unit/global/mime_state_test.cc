#include "global/mime_state.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

struct Recorder {
  std::vector<std::string> events;
  std::string output;
  MimeCallbacks callbacks() {
    MimeCallbacks cb;
    cb.header = [this](HeaderClass cls, std::string_view h) {
      static const char* names[] = {"P", "M", "N"};
      events.push_back(std::string(names[static_cast<int>(cls)]) + ":" + std::string(h));
      output += std::string(h) + "\n";
    };
    cb.header_end = [this](HeaderClass cls) {
      events.push_back("end" + std::to_string(static_cast<int>(cls)));
    };
    cb.body = [this](std::string_view line, bool) {
      events.push_back("B:" + std::string(line));
      output += std::string(line) + "\n";
    };
    return cb;
  }
};

std::string feed_all(MimeState& m, const std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    m.feed(std::string_view(text).substr(pos, nl - pos));
    pos = nl + 1;
  }
  m.finish();
  return text;
}

TEST(MimeState, HeadersWithContinuationsThenBody) {
  Recorder r;
  MimeState m(r.callbacks());
  std::string msg = "Subject: hello\n world\nFrom: a@b\n\nbody line\n";
  feed_all(m, msg);
  std::vector<std::string> want{"P:Subject: hello\n world", "P:From: a@b", "end0", "B:", "B:body line"};
  EXPECT_EQ(r.events, want);
  EXPECT_EQ(r.output, msg);
  EXPECT_FALSE(m.saw_8bit());
}

TEST(MimeState, MultipartPartsAndNestedMessage) {
  Recorder r;
  MimeState m(r.callbacks());
  std::string msg =
      "Content-Type: multipart/mixed; boundary=\"XX\"\n"
      "\n"
      "preamble\n"
      "--XX\n"
      "Content-Type: text/plain\n"
      "\n"
      "part one\n"
      "--XX\n"
      "Content-Type: message/rfc822\n"
      "\n"
      "Subject: inner\n"
      "\n"
      "inner body\n"
      "--XX--\n"
      "epilogue\n";
  feed_all(m, msg);
  std::vector<std::string> want{
      "P:Content-Type: multipart/mixed; boundary=\"XX\"", "end0", "B:", "B:preamble", "B:--XX",
      "M:Content-Type: text/plain", "end1", "B:", "B:part one", "B:--XX",
      "M:Content-Type: message/rfc822", "end1", "B:", "N:Subject: inner", "end2", "B:",
      "B:inner body", "B:--XX--", "B:epilogue"};
  EXPECT_EQ(r.events, want);
  EXPECT_EQ(r.output, msg);
}

TEST(MimeState, NoBlankLineBeforeBodyAndHeaderOnlyMessage) {
  Recorder r;
  MimeState m(r.callbacks());
  feed_all(m, "Subject: x\nnot a header\n");
  std::vector<std::string> want{"P:Subject: x", "end0", "B:not a header"};
  EXPECT_EQ(r.events, want);
  Recorder r2;
  MimeState m2(r2.callbacks());
  feed_all(m2, "Subject: only\n");
  std::vector<std::string> want2{"P:Subject: only", "end0"};
  EXPECT_EQ(r2.events, want2);
}

TEST(MimeState, LimitsAndErrors) {
  Recorder r;
  MimeLimits limits;
  limits.header_size_limit = 60;
  limits.nesting_limit = 1;
  MimeState m(r.callbacks(), limits);
  feed_all(m,
           "X-Long: " + std::string(70, 'a') + "\n"
           
           "Content-Type: multipart/mixed; boundary=a\n"
           "\n--a\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\n8bit \xc3\xa9\n");
  EXPECT_TRUE(m.errors() & kErrTruncatedHeader);
  EXPECT_TRUE(m.errors() & kErrNesting);
  EXPECT_TRUE(m.errors() & k8BitIn7BitBody);
  EXPECT_TRUE(m.saw_8bit());
  EXPECT_EQ(r.events[0], "P:X-Long: " + std::string(52, 'a'));
}

TEST(MimeState, MimeProcessingOff) {
  Recorder r;
  MimeLimits limits;
  limits.mime_processing = false;
  MimeState m(r.callbacks(), limits);
  feed_all(m, "Content-Type: multipart/mixed; boundary=a\n\n--a\nX: y\n");
  std::vector<std::string> want{"P:Content-Type: multipart/mixed; boundary=a", "end0", "B:", "B:--a",
                                "B:X: y"};
  EXPECT_EQ(r.events, want);
}

TEST(HeaderParameter, QuotedAndPlain) {
  EXPECT_EQ(header_parameter("multipart/mixed; boundary=\"a b\"; x=y", "boundary"), "a b");
  EXPECT_EQ(header_parameter("multipart/mixed; charset=utf-8; BOUNDARY=zz", "boundary"), "zz");
  EXPECT_EQ(header_parameter("text/plain", "boundary"), "");
  EXPECT_EQ(header_parameter("text/plain; boundary", "boundary"), "");
}

}  // namespace
}  // namespace postern
