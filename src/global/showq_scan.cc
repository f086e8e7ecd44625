#include "global/showq_scan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "global/mail_address.h"
#include "global/queue_file.h"
#include "util/log.h"
#include "util/stream.h"
#include "util/strings.h"
#include "util/unique_fd.h"

namespace postern {

std::vector<std::pair<std::string, std::string>> parse_defer_log(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> seen;
  std::string rcpt, reason;
  bool have_rcpt = false;
  auto flush = [&] {
    if (have_rcpt && seen.insert(rcpt).second) out.emplace_back(rcpt, reason);
    rcpt.clear();
    reason.clear();
    have_rcpt = false;
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      flush();
      continue;
    }
    if (line.front() == '<') continue;  // legacy "<rcpt>: text" line
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = line.substr(0, eq), value = line.substr(eq + 1);
    if (name == "recipient") {
      rcpt = std::string(value);
      have_rcpt = true;
    } else if (name == "reason") {
      reason = std::string(value);
    }
  }
  flush();
  return out;
}

std::optional<ShowqMessage> showq_read_message(const MailQueue& queue, std::string_view queue_name,
                                               const std::string& id) {
  std::string path = queue.path(queue_name, id);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno != ENOENT) log::warn("open {}: {}", path, std::strerror(errno));
    return std::nullopt;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  if (!queue_file_complete(st.st_mode)) return std::nullopt;  // still being written
  auto info = read_queue_file(fd.get(), queue.relative_path(queue_name, id), true);
  if (!info) {
    log::warn("{}", info.error().text);
    return std::nullopt;
  }
  ShowqMessage m;
  m.queue_name = std::string(queue_name);
  m.queue_id = id;
  m.arrival_time = info->arrival_sec ? info->arrival_sec : st.st_mtime;
  m.size = info->size ? info->size->content_size : st.st_size;
  m.forced_expire = (st.st_mode & kQueueModeExpired) != 0;
  // Addresses travel in external form, with non-printable characters as
  // '?' (as Postfix's showq sends them); the null sender as MAILER-DAEMON.
  m.sender = info->sender.empty() ? "MAILER-DAEMON" : printable(externalize_address(info->sender));
  std::set<std::string> seen;
  if (auto log = read_file(queue.path("defer", id), 1 << 20)) {
    for (auto& [rcpt, reason] : parse_defer_log(*log)) {
      seen.insert(rcpt);
      m.recipients.push_back({printable(externalize_address(rcpt)), printable(reason)});
    }
  }
  for (const auto& r : info->recipients) {
    if (r.done() || !seen.insert(r.address).second) continue;
    m.recipients.push_back({printable(externalize_address(r.address)), ""});
  }
  return m;
}

void showq_scan(const MailQueue& queue, const std::function<bool(const ShowqMessage&)>& visit) {
  for (auto q : kShowqQueues) {
    bool go_on = true;
    auto st = queue.scan(q, [&](const std::string& id, const std::string&) {
      if (auto m = showq_read_message(queue, q, id)) go_on = visit(*m);
      return go_on;
    });
    if (!st && st.error().code != Errc::kNotFound) log::warn("{}", st.error().text);
    if (!go_on) return;
  }
}

}  // namespace postern
