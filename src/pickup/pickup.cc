// pickup: the trigger service (public/pickup) that moves local
// submissions from maildrop/ into the queue. On every trigger (postdrop's
// "W", or master's wakeup timer) it scans maildrop/, and for each complete
// file (owner bits rwx, as postdrop leaves it): reads and checks the
// records, hands them to cleanup with a Received: header, logs
// "ID: uid=N from=<sender>", and removes the file. A file cleanup could
// not take for a temporary reason stays for the next scan; a malformed
// file goes to corrupt/.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "global/cleanup_client.h"
#include "global/mail_queue.h"
#include "global/mail_server.h"
#include "global/queue_file.h"
#include "global/rec_type.h"
#include "global/record.h"
#include "postdrop/maildrop.h"
#include "util/strings.h"
#include "util/unique_fd.h"

using namespace postern;

namespace {

std::unique_ptr<MailQueue> queue;

constexpr int kTemporaryStatus = kCleanupStatDefer | kCleanupStatWrite | kCleanupStatProxy;

enum class Outcome { kDone, kRetry };

Outcome pick_up(const std::string& id, ServiceContext& ctx) {
  const std::string path = queue->path("maildrop", id);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW));
  if (!fd) return Outcome::kDone;  // gone meanwhile
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    log::warn("maildrop/{}: not a regular file", id);
    (void)queue->save_corrupt("maildrop", id);
    return Outcome::kDone;
  }
  if (!queue_file_complete(st.st_mode)) return Outcome::kRetry;  // still being written
  const long long limit = ctx.cfg().int_value("message_size_limit").value_or(10240000);
  RecordReader in(fd.get(), "maildrop/" + id, 1 << 20);
  submit::MaildropValidator check(true);
  std::vector<Record> records;
  long long total = 0;
  while (!check.done()) {
    auto r = in.next();
    std::string problem;
    if (!r) problem = r.error().text;
    else if (!*r) problem = "unexpected EOF in data";
    else if (auto ok = check.accept((*r)->type); !ok) problem = ok.error().text;
    if (!problem.empty()) {
      log::warn("uid={}: {}: {}", static_cast<long>(st.st_uid), id, problem);
      (void)queue->save_corrupt("maildrop", id);
      return Outcome::kDone;
    }
    total += static_cast<long long>((*r)->data.size());
    if (limit > 0 && total > 2 * limit) {
      log::warn("uid={}: {}: message too large", static_cast<long>(st.st_uid), id);
      (void)queue->save_corrupt("maildrop", id);
      return Outcome::kDone;
    }
    records.push_back(std::move(**r));
  }
  // Relative to the queue directory: the working directory, chrooted or not.
  auto client = CleanupClient::open_socket("public/" + ctx.cfg().get("cleanup_service_name"),
                                           kCleanupFlagsExternal | kCleanupFlagBounce,
                                           std::chrono::seconds(ctx.ipc_timeout()));
  if (!client) {
    log::warn("{}", client.error().text);
    return Outcome::kRetry;
  }
  log::info("{}: uid={} from=<{}>", client->queue_id(), static_cast<long>(st.st_uid),
            submit::records_sender(records));
  auto outcome = submit::feed_cleanup(*client, records, ctx.cfg().get("myhostname"),
                                      ctx.cfg().get("mail_name"), st.st_uid, st.st_mtime);
  if (!outcome) {
    log::warn("maildrop/{}: {}", id, outcome.error().text);
    return Outcome::kRetry;
  }
  if (outcome->status & kTemporaryStatus) {
    log::warn("maildrop/{}: cleanup: {}", id,
              outcome->reason.empty() ? cleanup_status_detail(outcome->status).text
                                      : std::string_view(outcome->reason));
    return Outcome::kRetry;
  }
  if (outcome->status != 0) {
    auto detail = cleanup_status_detail(outcome->status);
    log::warn("{}: message from uid={} not queued: {}", client->queue_id(),
              static_cast<long>(st.st_uid),
              outcome->reason.empty() ? fmt::format("{} {}", detail.dsn, detail.text)
                                      : outcome->reason);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    log::warn("remove maildrop/{}: {}", id, std::strerror(errno));
  return Outcome::kDone;
}

void scan(std::string_view, ServiceContext& ctx) {
  auto ids = queue->scan("maildrop");
  if (!ids) {
    log::warn("scan maildrop: {}", ids.error().text);
    return;
  }
  for (const auto& id : *ids) {
    if (pick_up(id, ctx) == Outcome::kRetry) {
      // cleanup is unreachable or busy: try again at the next trigger.
      struct stat st {};
      if (::stat(queue->path("maildrop", id).c_str(), &st) == 0 && !queue_file_complete(st.st_mode))
        continue;
      break;
    }
  }
}

void pre_init(ServiceContext& ctx) {
  auto q = MailQueue::from_config(ctx.cfg());
  if (!q) log::fatal("{}", q.error().text);
  MailQueue::Settings qs = q->settings();
  qs.directory = ".";  // the working directory, chrooted or not
  queue = std::make_unique<MailQueue>(std::move(qs));
}

}  // namespace

int main(int argc, char** argv) {
  ServiceHooks hooks;
  hooks.pre_init = pre_init;
  return trigger_server_main(argc, argv, "pickup", scan, hooks);
}
