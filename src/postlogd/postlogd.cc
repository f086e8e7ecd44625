// postlogd: the service behind "postlog unix-dgram" in master.cf. Each
// datagram is one log line already formatted by its sender (util/log);
// postlogd appends it to $maillog_file. The file is opened before the
// privilege drop (it may belong to root) and kept open; "postfix
// logrotate" renames it and reloads master, which retires this process so
// that the next one opens the new file.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "global/mail_server.h"
#include "util/stream.h"
#include "util/unique_fd.h"

using namespace postern;

namespace {

UniqueFd g_log_fd;

// One line per datagram: no embedded line breaks, one trailing newline.
std::string sanitize(std::string_view datagram) {
  while (!datagram.empty() && (datagram.back() == '\n' || datagram.back() == '\r'))
    datagram.remove_suffix(1);
  std::string line(datagram);
  for (char& c : line)
    if (c == '\n' || c == '\r' || c == '\0') c = ' ';
  line += '\n';
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  ServiceHooks hooks;
  hooks.pre_init = [](ServiceContext& ctx) {
    std::string path = ctx.cfg().get("maillog_file");
    if (path.empty()) log::fatal("maillog_file is empty: nothing to write");
    g_log_fd.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
    if (!g_log_fd) log::fatal("open logfile '{}': {}", path, std::strerror(errno));
    // postlogd's own messages go straight to the file, never to its own socket.
    log::Settings s = mail_log_settings(ctx.cfg());
    s.postlog_socket.clear();
    log::configure(s);
  };
  return dgram_server_main(argc, argv, "postlogd",
                           [](std::string_view datagram, ServiceContext&) {
                             if (datagram.empty()) return;
                             std::string line = sanitize(datagram);
                             if (!write_all(g_log_fd.get(), line)) {
                               // Nothing sensible to log to; drop the line.
                             }
                           },
                           hooks);
}
