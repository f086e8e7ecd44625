// Fuzz target: what the smtp/lmtp client makes of text from the other end
// or from tables: server replies (parse_reply, the EHLO features), next
// hops (parse_nexthop), and the 8-bit to 7-bit MIME conversion of message
// content. No input may crash or hang them, and quoted-printable lines must be
// 7-bit and at most 76 characters long.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/ehlo.h"
#include "smtp/mime_downgrade.h"
#include "smtp/nexthop.h"
#include "smtp/reply.h"

using namespace postern::smtp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines;
  while (!input.empty()) {
    size_t nl = input.find('\n');
    lines.emplace_back(input.substr(0, nl));
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  }
  if (auto r = parse_reply(lines); r) {
    if (r->code < 100 || r->code > 999 || r->dsn.empty()) std::abort();
    (void)parse_features(*r, true);
    (void)r->text();
  }
  for (const auto& l : lines) {
    (void)parse_nexthop(l, "smtp", false);
    (void)parse_nexthop(l, "lmtp", true);
    for (const auto& q : qp_encode_line(l)) {
      if (q.size() > 76) std::abort();
      for (unsigned char c : q)
        if (c >= 0x80) std::abort();
    }
  }
  Downgrader d([](std::string_view) {});  // headers keep their bytes, as in Postfix
  for (const auto& l : lines) d.line(l);
  d.finish();
  return 0;
}
