// pipe: delivers to an external command named in master.cf:
//   mailman unix - n n - - pipe flags=FR user=list argv=/usr/lib/mailman/bin/postfix-to-mailman.py ${nexthop} ${user}
// Attributes: flags= (D O R F B X h q u . >), user=name[:group],
// directory=, argv= (the rest of the line). ${sender}, ${recipient} (one
// argument per recipient), ${original_recipient}, ${nexthop}, ${user},
// ${extension}, ${mailbox}, ${domain}, ${size}, ${queue_id},
// ${client_address}, ${client_hostname} are expanded. The exit status
// maps to a delivery status as sysexits.h says; the command is killed
// after <transport>_time_limit (default command_time_limit).
#include <cctype>
#include <string>
#include <vector>

#include "global/deliver_agent.h"
#include "global/deliver_command.h"
#include "global/deliver_mailbox.h"
#include "global/mail_address.h"
#include "maps/address_lookup.h"
#include "util/log.h"
#include "util/process.h"

using namespace postern;

namespace {

struct PipeConfig {
  std::string flags, user, group, directory;
  std::vector<std::string> argv;
};

Result<PipeConfig> parse_args(const std::vector<std::string>& args) {
  PipeConfig pc;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.starts_with("argv=")) {
      pc.argv.push_back(a.substr(5));
      for (++i; i < args.size(); ++i) pc.argv.push_back(args[i]);
      break;
    }
    if (a.starts_with("flags=")) pc.flags = a.substr(6);
    else if (a.starts_with("user=")) {
      std::string u = a.substr(5);
      auto colon = u.find(':');
      pc.user = u.substr(0, colon);
      if (colon != std::string::npos) pc.group = u.substr(colon + 1);
    } else if (a.starts_with("directory=")) pc.directory = a.substr(10);
    else if (a.starts_with("size=") || a.starts_with("eol=") || a.starts_with("null_sender="))
      continue;  // accepted, not implemented
    else
      return fail(Errc::kInvalid, "unknown attribute name: " + a);
  }
  if (pc.argv.empty() || pc.argv[0].empty()) return fail(Errc::kInvalid, "missing argv= command");
  if (pc.user.empty()) return fail(Errc::kInvalid, "missing user= command-line attribute");
  return pc;
}

bool has(const std::string& flags, char f) { return flags.find(f) != std::string::npos; }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

DsnResult dsn(std::string status, std::string reason) {
  DsnResult d;
  d.status = std::move(status);
  d.reason = std::move(reason);
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  return deliver_agent_main(argc, argv, "pipe", [](AgentRequest& ar) {
    const Config& cfg = ar.ctx.cfg();
    const auto& req = ar.req;
    auto pc = parse_args(ar.ctx.args().args);
    if (!pc) {
      log::warn("{}", pc.error().text);
      for (const auto& r : req.recipients)
        ar.status.defer(r, dsn("4.3.5", "mail system configuration error"));
      return;
    }
    CommandSpec spec;
    if (::geteuid() == 0) {
      auto u = lookup_user(pc->user);
      if (!u || u->uid == 0) {
        log::warn("user= command-line attribute: {}", u ? "user must not be root" : u.error().text);
        for (const auto& r : req.recipients)
          ar.status.defer(r, dsn("4.3.5", "mail system configuration error"));
        return;
      }
      spec.uid = u->uid;
      spec.gid = u->gid;
      if (!pc->group.empty()) {
        if (auto g = lookup_group(pc->group); g) spec.gid = *g;
      }
      spec.switch_user = true;
    }
    std::string delim = cfg.get("recipient_delimiter");
    auto addr_fold = [&](std::string a) {
      auto parts = split_address(a);
      if (has(pc->flags, 'u')) parts.local = lower(parts.local);
      if (has(pc->flags, 'h')) parts.domain = lower(parts.domain);
      return parts.domain.empty() && a.find('@') == std::string::npos ? parts.local
                                                                      : parts.local + "@" + parts.domain;
    };
    // Expands one argv element; per-recipient macros give one argument per recipient.
    std::vector<std::string> args;
    for (const auto& a : pc->argv) {
      bool per_rcpt = false;
      for (std::string_view m : {"${recipient}", "${original_recipient}", "${user}", "${extension}",
                                 "${mailbox}", "${domain}"})
        if (a.find(m) != std::string::npos) per_rcpt = true;
      size_t n = per_rcpt ? req.recipients.size() : 1;
      for (size_t k = 0; k < n; ++k) {
        const auto& r = req.recipients[k];
        std::string rcpt = addr_fold(r.address);
        auto parts = split_address(rcpt);
        auto ext = maps::split_extension(parts.local, delim);
        std::vector<std::pair<std::string, std::string>> vars = {
            {"sender", req.sender},
            {"recipient", rcpt},
            {"original_recipient", r.orig.empty() ? r.address : r.orig},
            {"nexthop", req.nexthop},
            {"user", ext.user},
            {"extension", ext.extension},
            {"mailbox", parts.local},
            {"domain", parts.domain},
            {"size", std::to_string(req.data_size)},
            {"queue_id", req.queue_id},
            {"client_address", req.client_addr},
            {"client_hostname", req.client_name},
        };
        std::string out;
        for (size_t i = 0; i < a.size();) {
          bool done = false;
          for (const auto& [name, value] : vars) {
            for (std::string form : {"${" + name + "}", "$" + name}) {
              if (a.compare(i, form.size(), form) == 0 &&
                  (form[1] == '{' || i + form.size() >= a.size() ||
                   !std::isalnum(static_cast<unsigned char>(a[i + form.size()])))) {
                out += value;
                i += form.size();
                done = true;
                break;
              }
            }
            if (done) break;
          }
          if (!done) out += a[i++];
        }
        args.push_back(out);
      }
    }
    spec.argv = args;
    spec.cwd = pc->directory;
    std::string service = ar.ctx.args().service_name;
    std::string limit_name = service + "_time_limit";
    spec.time_limit = cfg.raw(limit_name) ? static_cast<long>(cfg.time_value(limit_name).value_or(1000))
                                          : static_cast<long>(cfg.get_time("command_time_limit"));
    spec.env = {"PATH=/usr/bin:/bin", "SHELL=/bin/sh", "LOGNAME=" + pc->user, "USER=" + pc->user};
    MailCopy m;
    m.queue_fd = ar.queue_fd;
    m.data_offset = req.data_offset;
    m.sender = req.sender;
    m.recipient = req.recipients.size() == 1 ? req.recipients[0].address : "";
    m.orig_recipient = req.recipients.size() == 1 ? req.recipients[0].orig : "";
    m.return_path = has(pc->flags, 'R');
    m.delivered_to = has(pc->flags, 'D') && req.recipients.size() == 1;
    m.orig_to = has(pc->flags, 'O') && req.recipients.size() == 1;
    CopyOptions opt;
    opt.from_line = has(pc->flags, 'F');
    opt.quote_from = has(pc->flags, '>');
    opt.blank_line = has(pc->flags, 'B');
    opt.dot_stuff = has(pc->flags, '.');
    if (deliver_trace_only(req.flags)) {
      // Address probes and sendmail -bv deliver nothing (verify.md).
      for (const auto& r : req.recipients)
        ar.status.sent(r, dsn("2.0.0", "delivers via " + service + " service"));
      return;
    }
    auto res = run_command(spec, [&](int fd) { return copy_message(fd, m, opt, "command pipe"); });
    for (const auto& r : req.recipients) {
      if (!res) {
        ar.status.defer(r, dsn("4.3.0", "cannot run command: " + res.error().text));
        continue;
      }
      ar.status.report(r, command_dsn(*res, pc->argv[0], "delivered via " + service + " service"));
    }
  });
}
