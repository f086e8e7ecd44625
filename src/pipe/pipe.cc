// pipe: delivers to an external command named in master.cf:
//   mailman unix - n n - - pipe flags=FR user=list argv=/usr/lib/mailman/bin/postfix-to-mailman.py ${nexthop} ${user}
// Attributes: flags= (D O R F B X h q u . >), user=name[:group],
// directory=, chroot=, size=, eol=, null_sender=, argv= (the rest of the line).
// ${sender}, ${recipient} (one argument per recipient),
// ${original_recipient}, ${nexthop}, ${user}, ${extension}, ${mailbox},
// ${domain}, ${size}, ${queue_id}, ${client_address}, ${client_hostname},
// ${client_helo}, ${client_port}, ${client_protocol}, ${sasl_method},
// ${sasl_sender}, ${sasl_username} are expanded (also as $name and
// $(name); $$ is a $). The exit status maps to a delivery status as
// sysexits.h says, unless the output starts with an enhanced status code;
// the command is killed after <transport>_time_limit (default
// command_time_limit).
#include <algorithm>
#include <cctype>
#include <cstdlib>
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
  std::string flags, user, group, directory, chroot;
  long size_limit = 0;
  std::string eol = "\n";
  std::string null_sender = "MAILER-DAEMON";
  std::vector<std::string> argv;
};

// C-style escapes of eol=: \a \b \f \n \r \t \v \ddd and \\.
std::string unescape(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\' || i + 1 == v.size()) {
      out += v[i];
      continue;
    }
    char c = v[++i];
    switch (c) {
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      default:
        if (c >= '0' && c <= '7') {
          int n = 0, k = 0;
          for (; k < 3 && i < v.size() && v[i] >= '0' && v[i] <= '7'; ++k, ++i) n = n * 8 + (v[i] - '0');
          --i;
          out += static_cast<char>(n);
        } else {
          out += c;
        }
    }
  }
  return out;
}

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
    else if (a.starts_with("chroot=")) pc.chroot = a.substr(7);
    else if (a.starts_with("size=")) {
      char* end = nullptr;
      pc.size_limit = std::strtol(a.c_str() + 5, &end, 10);
      if (*end != 0 || pc.size_limit < 0) return fail(Errc::kInvalid, "bad size limit: " + a);
    } else if (a.starts_with("eol=")) pc.eol = unescape(a.substr(4));
    else if (a.starts_with("null_sender=")) pc.null_sender = a.substr(12);
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

// RFC 822 quoting of an address's local part when it needs it (q flag):
// "a b"@example.com.
std::string quote_address(const std::string& addr) {
  auto at = addr.rfind('@');
  std::string local = at == std::string::npos ? addr : addr.substr(0, at);
  bool need = local.empty() ? false : (local.front() == '.' || local.back() == '.' ||
                                       local.find("..") != std::string::npos);
  for (unsigned char c : local)
    if (c <= ' ' || c == 127 || std::string_view("()<>@,;:\\\"[]").find(static_cast<char>(c)) != std::string_view::npos)
      need = true;
  if (!need) return addr;
  std::string q = "\"";
  for (char c : local) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  q += '"';
  return at == std::string::npos ? q : q + addr.substr(at);
}

// "4.x.y text" / "5.x.y text" at the start of command output.
bool leading_status(const std::string& out, std::string* status, std::string* text) {
  size_t i = 0;
  if (out.empty() || (out[0] != '4' && out[0] != '5')) return false;
  i = 1;
  for (int part = 0; part < 2; ++part) {
    if (i >= out.size() || out[i] != '.') return false;
    size_t b = ++i;
    while (i < out.size() && std::isdigit(static_cast<unsigned char>(out[i])) && i - b < 3) ++i;
    if (i == b) return false;
  }
  if (i < out.size() && out[i] != ' ' && out[i] != '\t') return false;
  *status = out.substr(0, i);
  size_t t = out.find_first_not_of(" \t", i);
  *text = t == std::string::npos ? std::string() : out.substr(t);
  return true;
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
      if (u->name == cfg.get("mail_owner")) {
        log::warn("user= command-line attribute specifies mail system owner {}", u->name);
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
    auto fold_address = [&](const std::string& a) {
      auto at = a.rfind('@');
      std::string local = at == std::string::npos ? a : a.substr(0, at);
      std::string domain = at == std::string::npos ? "" : a.substr(at + 1);
      if (has(pc->flags, 'u')) local = lower(local);
      if (has(pc->flags, 'h')) domain = lower(domain);
      return at == std::string::npos ? local : local + "@" + domain;
    };
    auto quoted = [&](const std::string& a) { return has(pc->flags, 'q') ? quote_address(a) : a; };
    std::string sender = req.sender.empty() ? pc->null_sender : req.sender;
    std::string arg_sender = req.sender.empty() && pc->null_sender.empty() ? "" : quoted(sender);
    std::string nexthop = has(pc->flags, 'h') ? lower(req.nexthop) : req.nexthop;

    // Messages over size= are returned.
    if (pc->size_limit > 0 && req.data_size > pc->size_limit) {
      for (const auto& r : req.recipients) ar.status.bounce(r, dsn("5.2.3", "message too large"));
      return;
    }
    // D: a message that already went through Delivered-To: <recipient>
    // is a loop.
    std::vector<std::string> delivered_to;
    if (has(pc->flags, 'D')) {
      bool in_headers = true;
      (void)for_each_content_line(ar.queue_fd, req.data_offset, [&](std::string_view line, bool) -> Status {
        if (!in_headers) return {};
        if (line.empty()) {
          in_headers = false;
          return {};
        }
        std::string l = lower(std::string(line));
        if (l.starts_with("delivered-to:")) {
          size_t b = l.find_first_not_of(" \t", 13);
          if (b != std::string::npos) delivered_to.push_back(l.substr(b));
        }
        return {};
      });
    }
    std::vector<const DeliverRecipient*> todo;
    for (const auto& r : req.recipients) {
      std::string want = lower(r.address);
      if (std::find(delivered_to.begin(), delivered_to.end(), want) != delivered_to.end())
        ar.status.bounce(r, dsn("5.4.6", "mail forwarding loop for " + r.address));
      else
        todo.push_back(&r);
    }
    if (todo.empty()) return;
    // Per-recipient headers need one recipient per delivery.
    for (char f : {'D', 'O'}) {
      if (has(pc->flags, f) && todo.size() > 1) {
        log::warn("pipe flag `{}' requires {}_destination_recipient_limit = 1", f,
                  ar.ctx.args().service_name);
        for (const DeliverRecipient* r : todo)
          ar.status.defer(*r, dsn("4.3.5", "mail system configuration error"));
        return;
      }
    }

    // Expands one argv element; per-recipient macros give one argument per recipient.
    std::vector<std::string> args;
    for (const auto& a : pc->argv) {
      bool per_rcpt = false;
      for (std::string_view m : {"recipient", "original_recipient", "user", "extension", "mailbox", "domain"})
        for (std::string form : {"${" + std::string(m) + "}", "$(" + std::string(m) + ")", "$" + std::string(m)})
          if (a.find(form) != std::string::npos) per_rcpt = true;
      size_t n = per_rcpt ? todo.size() : 1;
      for (size_t k = 0; k < n; ++k) {
        const auto& r = *todo[k];
        std::string rcpt = fold_address(r.address);
        auto parts = split_address(rcpt);
        auto ext = maps::split_extension(parts.local, delim);
        std::vector<std::pair<std::string, std::string>> vars = {
            {"sender", arg_sender},
            {"recipient", quoted(rcpt)},
            {"original_recipient", quoted(fold_address(r.orig.empty() ? r.address : r.orig))},
            {"nexthop", nexthop},
            {"user", ext.user},
            {"extension", ext.extension},
            {"mailbox", parts.local},
            {"domain", has(pc->flags, 'h') ? lower(parts.domain) : parts.domain},
            {"size", std::to_string(req.data_size)},
            {"queue_id", req.queue_id},
            {"client_address", req.client_addr},
            {"client_hostname", req.client_name},
            {"client_helo", ""},
            {"client_port", ""},
            {"client_protocol", ""},
            {"sasl_method", ""},
            {"sasl_sender", ""},
            {"sasl_username", ""},
        };
        std::string out;
        for (size_t i = 0; i < a.size();) {
          if (a[i] != '$') {
            out += a[i++];
            continue;
          }
          if (a.compare(i, 2, "$$") == 0) {
            out += '$';
            i += 2;
            continue;
          }
          bool done = false;
          for (const auto& [name, value] : vars) {
            for (std::string form : {"${" + name + "}", "$(" + name + ")", "$" + name}) {
              if (a.compare(i, form.size(), form) == 0 &&
                  (form[1] == '{' || form[1] == '(' || i + form.size() >= a.size() ||
                   !(std::isalnum(static_cast<unsigned char>(a[i + form.size()])) || a[i + form.size()] == '_'))) {
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
    spec.cwd = pc->directory.empty() ? cfg.get("queue_directory") : pc->directory;
    spec.cwd_required = !pc->directory.empty();
    spec.chroot = pc->chroot;
    std::string service = ar.ctx.args().service_name;
    std::string limit_name = service + "_time_limit";
    spec.time_limit = cfg.raw(limit_name) ? static_cast<long>(cfg.time_value(limit_name).value_or(1000))
                                          : static_cast<long>(cfg.get_time("command_time_limit"));
    spec.env = {"PATH=/usr/bin:/bin", "SHELL=/bin/sh", "LOGNAME=" + pc->user, "USER=" + pc->user};
    for (auto& e : exported_environment(cfg.get_list("export_environment"))) spec.env.push_back(std::move(e));
    bool single = todo.size() == 1;  // always so with D or O
    MailCopy m;
    m.queue_fd = ar.queue_fd;
    m.data_offset = req.data_offset;
    m.sender = req.sender.empty() ? pc->null_sender : req.sender;
    m.recipient = single ? todo[0]->address : "";
    m.orig_recipient = single ? todo[0]->orig : "";
    m.return_path = has(pc->flags, 'R');
    m.delivered_to = has(pc->flags, 'D') && single;
    m.orig_to = has(pc->flags, 'O') && single;
    CopyOptions opt;
    opt.from_line = has(pc->flags, 'F');
    opt.quote_from = has(pc->flags, '>');
    opt.blank_line = has(pc->flags, 'B');
    opt.dot_stuff = has(pc->flags, '.');
    opt.eol = pc->eol;
    if (deliver_trace_only(req.flags)) {
      // Address probes and sendmail -bv deliver nothing (verify.md).
      for (const auto& r : req.recipients)
        ar.status.sent(r, dsn("2.0.0", "delivers via " + service + " service"));
      return;
    }
    auto res = run_command(spec, [&](int fd) { return copy_message(fd, m, opt, "command pipe"); });
    for (const DeliverRecipient* rp : todo) {
      const auto& r = *rp;
      if (!res) {
        ar.status.defer(r, dsn("4.3.0", "cannot run command: " + res.error().text));
        continue;
      }
      std::string ok = "delivered via " + service + " service";
      std::string trimmed = res->output;
      while (!trimmed.empty() && trimmed.back() == ' ') trimmed.pop_back();
      if (!trimmed.empty() && res->exit_status == 0 && !res->timed_out && !res->signal)
        ok += " (" + trimmed + ")";
      DsnResult d = command_dsn(*res, pc->argv[0], ok);
      std::string st, text;
      if (d.status[0] != '2' && !res->timed_out && !res->signal && leading_status(res->output, &st, &text)) {
        d.status = st;
        d.reason = text.empty() ? st : text;
      }
      // X: the command is the final delivery ("delivered", not "relayed").
      if (d.status[0] == '2') d.action = has(pc->flags, 'X') ? "delivered" : "relayed";
      ar.status.report(r, d);
    }
  });
}
