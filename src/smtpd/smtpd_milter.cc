#include "smtpd/smtpd_milter.h"

#include <fmt/format.h>

#include "global/config.h"
#include "smtpd/smtpd_session.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::smtpd {

namespace {

// The macros whose values go to cleanup with the milters (for the
// end-of-header and end-of-message stages).
constexpr std::string_view kHandedMacros[] = {
    "j", "_", "v", "{daemon_name}", "{daemon_addr}", "{daemon_port}", "{client_addr}",
    "{client_name}", "{client_port}", "{client_ptr}", "{client_resolve}", "{auth_type}",
    "{auth_authen}", "{mail_addr}", "{rcpt_addr}", "{if_addr}"};

// ESMTP parameters after the address in "FROM:<a> SIZE=10".
std::vector<std::string> esmtp_args(const std::string& args) {
  std::vector<std::string> out;
  std::string_view rest = args;
  auto colon = rest.find(':');
  if (colon != std::string_view::npos) rest.remove_prefix(colon + 1);
  rest = trim(rest);
  auto gt = rest.find('>');
  if (gt != std::string_view::npos) rest.remove_prefix(gt + 1);
  else if (auto sp = rest.find(' '); sp != std::string_view::npos) rest.remove_prefix(sp);
  else rest = {};
  for (auto p : split(rest, " ")) out.emplace_back(p);
  return out;
}

}  // namespace

std::shared_ptr<SmtpdMilter> SmtpdMilter::create(const Config& cfg, const std::string& local_addr,
                                                  int local_port) {
  std::string value = cfg.get("smtpd_milters");
  if (trim(value).empty()) return nullptr;
  auto list = milter::parse_milter_list(cfg, "smtpd_milters", value);
  if (!list) {
    log::warn("{}", list.error().text);
    return nullptr;
  }
  if (list->empty()) return nullptr;
  return std::shared_ptr<SmtpdMilter>(new SmtpdMilter(cfg, std::move(*list), local_addr, local_port));
}

SmtpdMilter::SmtpdMilter(const Config& cfg, std::vector<milter::Settings> settings,
                         std::string local_addr, int local_port)
    : settings_(std::move(settings)),
      myhostname_(cfg.get("myhostname")),
      daemon_name_(cfg.get("milter_macro_daemon_name")),
      macro_v_(cfg.get("milter_macro_v")),
      local_addr_(std::move(local_addr)),
      local_port_(local_port) {}

SmtpdMilter::~SmtpdMilter() { list_.quit(); }

milter::MacroFn SmtpdMilter::macros(const CheckState& st) {
  return [this, &st](std::string_view n) -> std::optional<std::string> {
    if (n == "j") return myhostname_;
    if (n == "{daemon_name}") return daemon_name_;
    if (n == "v") return macro_v_;
    if (n == "{daemon_addr}" || n == "{if_addr}")
      return local_addr_.empty() ? std::nullopt : std::optional(local_addr_);
    if (n == "{daemon_port}")
      return local_port_ ? std::optional(std::to_string(local_port_)) : std::nullopt;
    if (n == "_") return fmt::format("{} [{}]", st.client_name, st.client_addr);
    if (n == "{client_addr}") return st.client_addr;
    if (n == "{client_name}") return st.client_name;
    if (n == "{client_port}") return std::to_string(st.client_port);
    if (n == "{client_ptr}") return st.reverse_name;
    if (n == "{client_resolve}")
      return std::string(st.client_name == "unknown" ? "FAIL" : "OK");
    if (n == "i") return queue_id_.empty() ? std::nullopt : std::optional(queue_id_);
    if (n == "{auth_type}" || n == "{auth_authen}") {
      if (st.sasl_username.empty()) return std::nullopt;
      return n == "{auth_authen}" ? st.sasl_username : std::string("LOGIN");
    }
    if (n == "{mail_addr}") return st.sender;
    if (n == "{rcpt_addr}") return rcpt_.empty() ? std::nullopt : std::optional(rcpt_);
    return std::nullopt;
  };
}

std::optional<std::string> SmtpdMilter::verdict(CheckState& st, std::string_view stage,
                                                const milter::Reply& r) {
  using K = milter::Reply::Kind;
  switch (r.kind) {
    case K::kContinue:
    case K::kAccept:
      return std::nullopt;
    case K::kDiscard:
      if (st.log) st.log("milter-discard", stage, "milter triggers DISCARD action");
      st.discard = true;
      return std::nullopt;
    case K::kQuarantine:
      // Only at end of message; a default action of quarantine holds it.
      st.hold = true;
      return std::nullopt;
    case K::kReject:
    case K::kTempfail:
      if (st.log) st.log("milter-reject", stage, r.text);
      return r.text;
  }
  return std::nullopt;
}

std::optional<std::string> SmtpdMilter::connect(CheckState& st) {
  list_ = milter::MilterList::open(settings_);
  auto r = list_.connect(st.client_name, st.client_addr, st.client_port, macros(st));
  if (r.kind == milter::Reply::kReject || r.kind == milter::Reply::kTempfail) {
    session_reject_ = r.text;
    if (st.log) st.log("milter-reject", "CONNECT", r.text);
    return r.text;
  }
  return std::nullopt;
}

std::optional<std::string> SmtpdMilter::helo(CheckState& st, bool ehlo) {
  // After a rejection at connect time Postfix logs it again and goes on.
  if (session_reject_) {
    if (st.log) st.log("milter-reject", ehlo ? "EHLO" : "HELO", *session_reject_);
    return std::nullopt;
  }
  auto r = list_.helo(st.helo, macros(st));
  if (r.kind == milter::Reply::kReject || r.kind == milter::Reply::kTempfail) {
    if (st.log) st.log("milter-reject", ehlo ? "EHLO" : "HELO", r.text);
    return r.text;
  }
  return std::nullopt;
}

std::optional<std::string> SmtpdMilter::mail(CheckState& st, const std::string& args) {
  if (session_reject_) {
    if (st.log) st.log("milter-reject", "MAIL", *session_reject_);
    return session_reject_;
  }
  std::vector<std::string> argv{"<" + st.sender.value_or("") + ">"};
  for (auto& a : esmtp_args(args)) argv.push_back(std::move(a));
  in_message_ = true;
  queue_id_.clear();
  auto out = verdict(st, "MAIL", list_.mail(argv, macros(st)));
  if (out) abort();
  return out;
}

std::optional<std::string> SmtpdMilter::rcpt(CheckState& st, const std::string& args) {
  std::vector<std::string> argv{"<" + st.recipient + ">"};
  for (auto& a : esmtp_args(args)) argv.push_back(std::move(a));
  rcpt_ = st.recipient;
  return verdict(st, "RCPT", list_.rcpt(argv, macros(st)));
}

std::optional<std::string> SmtpdMilter::data(CheckState& st, const std::string& queue_id) {
  queue_id_ = queue_id;
  return verdict(st, "DATA", list_.data(macros(st)));
}

void SmtpdMilter::abort() {
  if (in_message_) list_.abort();
  in_message_ = false;
  rcpt_.clear();
  list_.next_message();
}

Status SmtpdMilter::hand_over(MessageSink& sink, const CheckState& st) {
  queue_id_ = sink.queue_id();
  std::vector<int> fds;
  std::vector<AttrList> lists;
  AttrList macro_values;
  auto m = macros(st);
  for (auto name : kHandedMacros)
    if (auto v = m(name)) macro_values.add(name, *v);
  lists.push_back(std::move(macro_values));
  for (auto& x : list_.milters()) {
    int fd = x->skipped() ? -1 : x->fd();
    if (fd < 0) {
      // Nothing to pass: cleanup learns the state (error or accepted).
      continue;
    }
    fds.push_back(fd);
    lists.push_back(x->export_state());
  }
  // Milters in the error state with a default action other than accept
  // already answered at an earlier stage; the others sit this one out.
  in_message_ = false;
  rcpt_.clear();
  list_.next_message();
  if (fds.empty()) return {};
  return sink.send_milters(fds, lists);
}

}  // namespace postern::smtpd
