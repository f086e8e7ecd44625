#include "smtp/content.h"

#include <algorithm>
#include <optional>
#include <string>

#include "global/deliver_agent.h"
#include "smtp/mime_downgrade.h"
#include "smtp/reply.h"

namespace postern::smtp {

Status send_content(Stream& stream, int queue_fd, off_t data_offset, size_t line_length_limit,
                    bool downgrade, bool* local) {
  std::string out;
  Status net_status;
  auto flush_some = [&]() -> Status {
    if (out.size() < 64 * 1024) return {};
    stream.write(out);
    out.clear();
    return stream.flush();
  };
  // One logical line after downgrading: dot-stuffed, CRLF, and broken at
  // smtp_line_length_limit by inserting CRLF SPACE (as Postfix does, to
  // keep MIME structure and header folding intact).
  auto emit = [&](std::string_view l) {
    if (!net_status) return;
    size_t limit = line_length_limit;
    if (limit < 2 || l.size() <= limit) {
      append_data_line(out, l);
    } else {
      append_data_line(out, l.substr(0, limit));
      l.remove_prefix(limit);
      while (!l.empty()) {
        size_t n = std::min(l.size(), limit - 1);
        std::string piece = " ";
        piece.append(l.substr(0, n));
        append_data_line(out, piece);
        l.remove_prefix(n);
      }
    }
    net_status = flush_some();
  };
  std::optional<Downgrader> down;
  if (downgrade) down.emplace([&](std::string_view l) { emit(l); });
  std::string pending;
  auto st = for_each_content_line(queue_fd, data_offset,
                                  [&](std::string_view piece, bool complete) -> Status {
                                    if (!complete) {
                                      pending.append(piece);
                                      return {};
                                    }
                                    std::string_view line = piece;
                                    if (!pending.empty()) {
                                      pending.append(piece);
                                      line = pending;
                                    }
                                    if (down) down->line(line);
                                    else emit(line);
                                    pending.clear();
                                    if (!net_status) return std::unexpected(net_status.error());
                                    return {};
                                  });
  if (!st && net_status) {
    *local = true;
    return st;
  }
  if (!net_status) return net_status;
  if (!pending.empty()) {
    if (down) down->line(pending);
    else emit(pending);
  }
  if (down) down->finish();
  if (!net_status) return net_status;
  out += ".\r\n";
  stream.write(out);
  return stream.flush();
}

}  // namespace postern::smtp
