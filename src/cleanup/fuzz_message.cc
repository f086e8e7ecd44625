// libFuzzer target (-DPOSTERN_FUZZ=ON, clang): arbitrary message content
// through cleanup's header/MIME/body processing. The first byte picks the
// flags and context; the rest is split into lines.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cleanup/message.h"
#include "global/cleanup_client.h"
#include "util/log.h"

using namespace postern;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool once = [] {
    log::init("cleanup-fuzz");
    log::disable_syslog();
    return true;
  }();
  (void)once;
  if (size == 0) return 0;
  static cleanup::Settings settings;
  static cleanup::Tables tables;
  settings.mime.nesting_limit = 20;
  settings.mime.header_size_limit = 4096;
  int flags = kCleanupFlagsExternal;
  bool local = data[0] & 1;
  if (data[0] & 2) flags |= kCleanupFlagHold;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  int fd = ::memfd_create("fuzz", 0);
  if (fd < 0) return 0;
  {
    QueueFileWriter w(fd);
    cleanup::Message m(settings, tables, nullptr, "FUZZ", w, flags, 1700000000);
    m.record('T', "1700000000 0");
    m.record('A', local ? "rewrite_context=local" : "rewrite_context=remote");
    m.record('S', "sender@example.com");
    m.record('R', "rcpt@example.com");
    m.record('M', "");
    m.record('N', "Received: by fuzz");
    while (!text.empty()) {
      size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      m.record('N', line);
      if (nl == std::string_view::npos) break;
      text.remove_prefix(nl + 1);
    }
    m.record('X', "");
    m.record('E', "");
    if (!m.finished()) __builtin_trap();
  }
  ::close(fd);
  return 0;
}
