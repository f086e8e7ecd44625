// bounce (also run as "defer" and "trace"): the delivery status service.
// qmgr asks it to flush a message's bounce/ log:
//   bounce -> protocol=delivery_status_protocol
//   qmgr   -> nrequest=flush, flags, queue_name, queue_id
//   bounce -> status=0 (notification queued or not needed; log removed)
// nrequest=trace sends a delivery report for the trace/ log (NOTIFY=SUCCESS).
// With nrequest=warn it sends a delay warning for the recipients in the
// defer/ log instead ("ID: sender delay notification: NEWID").
// It sends the sender an RFC 3464 non-delivery notification through
// cleanup, logs "ID: sender non-delivery notification: NEWID" and removes
// the bounce log. Mail from the null sender is not returned.
#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "bounce/ndr.h"
#include "bounce/template.h"
#include "global/attr.h"
#include "global/cleanup_client.h"
#include "global/deliver_agent.h"
#include "global/dsn.h"
#include "global/mail_date.h"
#include "global/mail_queue.h"
#include "global/mail_server.h"
#include "global/queue_file.h"
#include "global/rec_type.h"
#include "util/log.h"
#include "util/unique_fd.h"

using namespace postern;

namespace {

// "Mail Delivery System <MAILER-DAEMON>" -> "... <MAILER-DAEMON@origin>",
// as cleanup qualifies a local address.
std::string qualify_from(const std::string& from, const std::string& origin) {
  auto lt = from.find('<');
  auto gt = from.find('>', lt == std::string::npos ? 0 : lt);
  if (lt != std::string::npos && gt != std::string::npos) {
    std::string addr = from.substr(lt + 1, gt - lt - 1);
    if (!addr.empty() && addr.find('@') == std::string::npos)
      return from.substr(0, gt) + "@" + origin + from.substr(gt);
    return from;
  }
  auto sp = from.find_first_of(" \t(");
  std::string addr = from.substr(0, sp);
  if (!addr.empty() && addr.find('@') == std::string::npos)
    return addr + "@" + origin + (sp == std::string::npos ? "" : from.substr(sp));
  return from;
}

// Sends one notification about message `id` to `to` through cleanup; the
// postmaster's copy carries the returned message's headers only.
bool send_notice(const Config& cfg, const std::string& id, const QueueFileInfo& info, int fd,
                 const std::vector<bounce::LogRecord>& rcpts, const std::string& kind,
                 const std::string& to, bool postmaster, std::string* new_id, bool verify = false) {
  bool warn = kind == "warn", trace = kind == "trace";
  auto client = CleanupClient::open_socket(
      cfg.get("queue_directory") + "/public/" + cfg.get("cleanup_service_name"), 0,
      std::chrono::seconds(60));
  if (!client) {
    log::warn("{}: cannot send notification: {}", id, client.error().text);
    return false;
  }
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  bounce::NdrInfo ni;
  ni.myhostname = cfg.get("myhostname");
  ni.mail_name = cfg.get("mail_name");
  ni.queue_id = id;
  ni.new_id = client->queue_id();
  ni.sender = info.sender;
  ni.to = to;
  ni.postmaster_copy = postmaster;
  ni.arrival_date = mail_date(info.arrival_sec);
  ni.date = mail_date(tv.tv_sec);
  ni.boundary = id + "." + std::to_string(tv.tv_sec) + "/" + ni.myhostname;
  ni.delay = warn;
  ni.success = trace;
  if (warn)
    ni.retry_until = mail_date(info.arrival_sec +
                               cfg.get_time(info.sender.empty() ? "bounce_queue_lifetime"
                                                                : "maximal_queue_lifetime"));
  // The template: bounce_template_file or the built-in one.
  auto templates = bounce::templates_from_config(cfg);
  const auto tkind = verify  ? bounce::TemplateKind::kVerify
                    : warn  ? bounce::TemplateKind::kDelay
                    : trace ? bounce::TemplateKind::kSuccess
                            : bounce::TemplateKind::kFailure;
  const auto& tpl = templates.get(tkind);
  std::vector<std::string> warnings;
  auto text = bounce::expand_text(tpl, cfg, &warnings);
  for (const auto& w : warnings) log::warn("{}", w);
  if (!text) {
    log::warn("{} -- using the built-in template", text.error().text);
    text = bounce::expand_text(bounce::default_templates().get(tkind), cfg, &warnings);
  }
  if (text) ni.text = *text;
  // Postfix sends an ASCII template as utf-8 when SMTPUTF8 is on.
  ni.charset = tpl.charset;
  if ((ni.charset == "us-ascii" || ni.charset == "US-ASCII") && cfg.get_bool("smtputf8_enable"))
    ni.charset = "utf-8";
  ni.from = qualify_from(tpl.from, cfg.get("myorigin"));
  ni.subject = postmaster && !tpl.postmaster_subject.empty() ? tpl.postmaster_subject : tpl.subject;
  ni.verify = verify;
  bool headers_only = warn || trace || postmaster;
  Status s = client->record(rec::kTime, std::to_string(tv.tv_sec) + " " + std::to_string(tv.tv_usec));
  if (s) s = client->record(rec::kAttr, "rewrite_context=local");
  // Postmaster copies come from double_bounce_sender, as Postfix's do, so
  // that their own failures are dropped instead of bouncing again.
  std::string from = postmaster ? cfg.get("double_bounce_sender") : "";
  if (!from.empty() && from.find('@') == std::string::npos) from += "@" + cfg.get("myorigin");
  if (s) s = client->record(rec::kSender, from);
  if (s) s = client->record(rec::kRecipient, to);
  if (s) s = client->record(rec::kMessage, "");
  for (const auto& line : bounce::ndr_head(ni, rcpts)) {
    if (!s) break;
    s = client->content_line(line);
  }
  if (s && info.content_offset >= 0) {
    bool in_headers = true;
    s = for_each_content_line(fd, info.content_offset, [&](std::string_view line, bool) -> Status {
      if (headers_only && line.empty()) in_headers = false;
      if (headers_only && !in_headers) return {};
      return client->content_line(line);
    });
  }
  for (const auto& line : bounce::ndr_tail(ni)) {
    if (!s) break;
    s = client->content_line(line);
  }
  if (s) s = client->record(rec::kExtracted, "");
  if (!s) {
    log::warn("{}: cannot send notification: {}", id, s.error().text);
    return false;
  }
  auto out = client->finish();
  if (!out || out->status != 0) {
    log::warn("{}: notification rejected by cleanup: {}", id, out ? out->reason : out.error().text);
    return false;
  }
  *new_id = ni.new_id;
  return true;
}

// Returns 0 when done, 1 to make qmgr try again later.
int flush(ServiceContext& ctx, const std::string& queue_name, const std::string& id,
          const std::string& kind, int flags) {
  // sendmail -bv: the trace/ log holds what would happen (verify.md).
  bool verify = kind == "trace" && (flags & kDeliverFlagUserVerify);
  bool warn = kind == "warn", trace = kind == "trace";
  const Config& cfg = ctx.cfg();
  auto queue = MailQueue::from_config(cfg);
  if (!queue) return 1;
  std::string log_path = queue->path(warn ? "defer" : trace ? "trace" : "bounce", id);
  auto text = read_file(log_path, 16 << 20);
  if (!text) return text.error().code == Errc::kNotFound || errno == ENOENT ? 0 : 1;
  auto rcpts = bounce::parse_status_log(*text);
  std::string qpath = queue->path(queue_name, id);
  UniqueFd fd(::open(qpath.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    log::warn("{}: open {}: {}", id, qpath, std::strerror(errno));
    return 1;
  }
  auto info = read_queue_file(fd.get(), id);
  if (!info) {
    log::warn("{}", info.error().text);
    return 1;
  }
  if (warn) {
    // Only recipients that are still waiting.
    std::erase_if(rcpts, [](const bounce::LogRecord& r) { return r.action != "delayed"; });
  }
  // DSN NOTIFY: only recipients that want this kind of notice.
  int notice = warn ? kDsnNotifyDelay : trace ? kDsnNotifySuccess : kDsnNotifyFailure;
  if (!verify)
    std::erase_if(rcpts, [notice](const bounce::LogRecord& r) { return !bounce::wants_notice(r, notice); });
  if (rcpts.empty()) {
    if (!warn) (void)::unlink(log_path.c_str());
    return 0;
  }
  // The postmaster's copies per notify_classes: "bounce" for bounces,
  // "delay" for delay warnings; "2bounce" returns bounced mail from <>.
  auto classes = cfg.get_list("notify_classes");
  auto wants = [&](std::string_view c) {
    return std::find(classes.begin(), classes.end(), c) != classes.end();
  };
  std::string new_id;
  if (!info->sender.empty()) {
    if (!send_notice(cfg, id, *info, fd.get(), rcpts, kind, info->sender, false, &new_id, verify))
      return 1;
    log::info("{}: sender {} notification: {}", id,
              warn ? "delay" : trace ? "delivery status" : "non-delivery", new_id);
  }
  std::string pm_param = warn ? "delay_notice_recipient"
                         : info->sender.empty() ? "2bounce_notice_recipient"
                                                : "bounce_notice_recipient";
  bool pm_copy = !trace && (warn ? wants("delay") : info->sender.empty() ? wants("2bounce") : wants("bounce"));
  if (pm_copy && send_notice(cfg, id, *info, fd.get(), rcpts, kind, cfg.get(pm_param), true, &new_id))
    log::info("{}: postmaster {} notification: {}", id, warn ? "delay" : "non-delivery", new_id);
  if (!warn) (void)::unlink(log_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return single_server_main(argc, argv, "bounce", [](UniqueFd client, ServiceContext& ctx) {
    Stream s = Stream::from_fd(std::move(client));
    s.set_timeout(std::chrono::seconds(ctx.ipc_timeout()));
    attr_write(s, AttrEncoding::kNul, AttrList{{"protocol", "delivery_status_protocol"}});
    if (!s.flush()) return;
    auto req = attr_read(s, AttrEncoding::kNul);
    if (!req) return;
    int status = 1;
    std::string what(req->str("nrequest"));
    std::string queue_name(req->str("queue_name"));
    std::string id(req->str("queue_id"));
    if ((what == "flush" || what == "warn" || what == "trace") && !id.empty() && id.find('/') == std::string::npos &&
        queue_name.find('/') == std::string::npos)
      status = flush(ctx, queue_name, id, what, static_cast<int>(req->number_or("flags", 0)));
    else
      log::warn("bad delivery status request: nrequest={} queue_id={}", what, id);
    attr_write(s, AttrEncoding::kNul, AttrList{{"status", std::to_string(status)}});
    (void)s.flush();
  });
}
