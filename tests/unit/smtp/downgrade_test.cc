#include "smtp/mime_downgrade.h"

#include <gtest/gtest.h>

using namespace postern::smtp;

namespace {

std::vector<std::string> convert(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  Downgrader d([&](std::string_view l) { out.emplace_back(l); });
  for (const auto& l : in) d.line(l);
  d.finish();
  return out;
}

}  // namespace

TEST(QuotedPrintable, EncodesEightBitEqualsAndTrailingSpace) {
  EXPECT_EQ(qp_encode_line("caf\xc3\xa9 = ok "), std::vector<std::string>{"caf=C3=A9 =3D ok=20"});
  EXPECT_EQ(qp_encode_line(""), std::vector<std::string>{""});
}

TEST(QuotedPrintable, SoftBreaksKeepLinesShort) {
  std::string l(200, 'a');
  auto out = qp_encode_line(l);
  ASSERT_GT(out.size(), 1u);
  std::string joined;
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_LE(out[i].size(), 76u);
    if (i + 1 < out.size()) {
      ASSERT_EQ(out[i].back(), '=');
      joined += out[i].substr(0, out[i].size() - 1);
    } else {
      joined += out[i];
    }
  }
  EXPECT_EQ(joined, l);
}

TEST(Downgrade, SinglePartEightBit) {
  auto out = convert({"From: a@b", "Content-Type: text/plain; charset=utf-8",
                      "Content-Transfer-Encoding: 8bit", "", "gr\xc3\xbc\xc3\x9f"});
  std::vector<std::string> want{"From: a@b", "Content-Type: text/plain; charset=utf-8",
                                "Content-Transfer-Encoding: quoted-printable", "",
                                "gr=C3=BC=C3=9F"};
  EXPECT_EQ(out, want);
}

TEST(Downgrade, SevenBitAndUndeclaredPartsPassUnchanged) {
  std::vector<std::string> in{"Subject: x", "", "plain text = fine"};
  EXPECT_EQ(convert(in), in);
  std::vector<std::string> b64{"Content-Transfer-Encoding: base64", "", "aGVsbG8="};
  EXPECT_EQ(convert(b64), b64);
}

TEST(Downgrade, MultipartConvertsOnlyEightBitParts) {
  auto out = convert({"MIME-Version: 1.0", "Content-Type: multipart/mixed;",
                      "\tboundary=\"BB\"", "Content-Transfer-Encoding: 8bit", "", "preamble",
                      "--BB", "Content-Type: text/plain", "Content-Transfer-Encoding: 8bit", "",
                      "\xe9t\xe9", "--BB", "Content-Type: text/plain", "", "ascii =", "--BB--",
                      "epilogue"});
  std::vector<std::string> want{"MIME-Version: 1.0", "Content-Type: multipart/mixed;",
                                "\tboundary=\"BB\"", "Content-Transfer-Encoding: 7bit", "",
                                "preamble", "--BB", "Content-Type: text/plain",
                                "Content-Transfer-Encoding: quoted-printable", "", "=E9t=E9",
                                "--BB", "Content-Type: text/plain", "", "ascii =", "--BB--",
                                "epilogue"};
  EXPECT_EQ(out, want);
}

TEST(Downgrade, NestedMessage) {
  auto out = convert({"Content-Type: message/rfc822", "Content-Transfer-Encoding: 8bit", "",
                      "Subject: inner", "Content-Transfer-Encoding: 8bit", "", "\xff"});
  std::vector<std::string> want{"Content-Type: message/rfc822", "Content-Transfer-Encoding: 7bit",
                                "", "Subject: inner",
                                "Content-Transfer-Encoding: quoted-printable", "", "=FF"};
  EXPECT_EQ(out, want);
}
