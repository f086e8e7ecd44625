#include "smtpd/smtpd_session.h"

#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include <ctime>
#include <thread>

#include <fmt/format.h>

#include "global/config.h"
#include "global/mail_address.h"
#include "global/mail_date.h"
#include "global/rec_type.h"
#include "smtpd/smtpd_milter.h"
#include "smtpd/smtpd_proto.h"
#include "smtpd/smtpd_proxy.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::smtpd {

namespace {

class CleanupSink : public MessageSink {
 public:
  explicit CleanupSink(CleanupClient c) : c_(std::move(c)) {}
  const std::string& queue_id() const override { return c_.queue_id(); }
  Status record(int type, std::string_view data) override { return c_.record(type, data); }
  Result<CleanupOutcome> finish() override { return c_.finish(); }
  Status send_milters(const std::vector<int>& fds, const std::vector<AttrList>& l) override {
    return c_.send_milters(fds, l);
  }

 private:
  CleanupClient c_;
};

constexpr std::string_view kCommandOrder[] = {"helo", "ehlo", "starttls", "xclient", "xforward",
                                              "auth", "mail", "rcpt", "data", "bdat", "rset",
                                              "noop", "vrfy", "etrn", "quit", "unknown"};

}  // namespace

SinkOpener cleanup_opener(const Config& cfg) {
  if (proxy_enabled(cfg)) return proxy_opener(cfg);  // smtpd_proxy.h
  return [&cfg](int flags) -> Result<std::unique_ptr<MessageSink>> {
    auto c = CleanupClient::open(cfg, flags);
    if (!c) return std::unexpected(c.error());
    return std::make_unique<CleanupSink>(std::move(*c));
  };
}

SessionSettings SessionSettings::from_config(const Config& cfg) {
  SessionSettings s;
  s.myhostname = cfg.get("myhostname");
  s.banner = cfg.get("smtpd_banner");
  s.mail_name = cfg.get("mail_name");
  s.content_filter = cfg.get("content_filter");
  s.no_content_filter =
      s.content_filter.empty() && !cfg.main_cf_value("content_filter").value_or("").empty();
  s.message_size_limit = cfg.get_int("message_size_limit");
  s.recipient_limit = cfg.get_int("smtpd_recipient_limit");
  s.soft_error_limit = cfg.get_int("smtpd_soft_error_limit");
  s.hard_error_limit = cfg.get_int("smtpd_hard_error_limit");
  s.error_sleep_time = cfg.get_time("smtpd_error_sleep_time");
  s.junk_command_limit = cfg.get_int("smtpd_junk_command_limit");
  s.line_length_limit = cfg.get_int("line_length_limit");
  if (s.line_length_limit < 512) s.line_length_limit = 512;
  s.timeout = std::chrono::seconds(cfg.get_time("smtpd_timeout"));
  std::string discard = cfg.get("smtpd_discard_ehlo_keywords");
  for (auto w : split(discard))
    s.discard_ehlo_keywords.push_back(lowercase(w));
  s.disable_vrfy = cfg.get_bool("disable_vrfy_command");
  s.forbid_bare_newline = cfg.get_bool("smtpd_forbid_bare_newline");
  s.strict_rfc821 = cfg.get_bool("strict_rfc821_envelopes");
  s.helo_required = cfg.get_bool("smtpd_helo_required");
  s.null_access_key = cfg.get("smtpd_null_access_lookup_key");
  s.fast_flush_domains = cfg.get("fast_flush_domains");
  s.tls_auth_only = cfg.get_bool("smtpd_tls_auth_only");
  s.queue_directory = cfg.get("queue_directory");
  s.queue_minfree = cfg.get_int("queue_minfree");
  s.conn_count_limit = cfg.get_int("smtpd_client_connection_count_limit");
  s.conn_rate_limit = cfg.get_int("smtpd_client_connection_rate_limit");
  s.message_rate_limit = cfg.get_int("smtpd_client_message_rate_limit");
  s.recipient_rate_limit = cfg.get_int("smtpd_client_recipient_rate_limit");
  s.sasl_enable = cfg.get_bool("smtpd_sasl_auth_enable");
  s.broken_sasl_auth_clients = cfg.get_bool("broken_sasl_auth_clients");
  s.starttls_timeout = std::chrono::seconds(cfg.get_time("smtpd_starttls_timeout"));
  s.tls_received_header = cfg.get_bool("smtpd_tls_received_header");
  s.sasl_authenticated_header = cfg.get_bool("smtpd_sasl_authenticated_header");
  s.auth_rate_limit = cfg.get_int("smtpd_client_auth_rate_limit");
  s.sasl_response_limit = std::max(64LL, cfg.get_int("smtpd_sasl_response_limit"));
  s.newtls_rate_limit = cfg.get_int("smtpd_client_new_tls_session_rate_limit");
  return s;
}

Session::Session(Stream& stream, const SessionSettings& settings, Checker& checker,
                 SinkOpener opener, CheckState client, Extensions ext)
    : s_(stream), cfg_(settings), checker_(checker), opener_(std::move(opener)),
      st_(std::move(client)), ext_(ext) {
  for (auto n : kCommandOrder) counters_.push_back(Counter{std::string(n)});
  st_.log = [this](std::string_view a, std::string_view stage, std::string_view t) {
    log_action(a, stage, t);
  };
}

std::string Session::namaddr() const { return st_.client_name + "[" + st_.client_addr + "]"; }

void Session::log_action(std::string_view action, std::string_view stage, std::string_view text) {
  std::string id = sink_ ? sink_->queue_id() : "NOQUEUE";
  std::string extra;
  if (st_.sender) extra += fmt::format(" from=<{}>", *st_.sender);
  if (!st_.recipient.empty()) extra += fmt::format(" to=<{}>", st_.recipient);
  else if (in_mail_ && !recipients_.empty()) extra += fmt::format(" to=<{}>", recipients_.back());
  extra += fmt::format(" proto={}", st_.protocol);
  if (!st_.helo.empty()) extra += fmt::format(" helo=<{}>", st_.helo);
  log::info("{}: {}: {} from {}: {};{}", id, action, stage, namaddr(), text, extra);
}

void Session::count(std::string_view name, bool ok) {
  for (auto& c : counters_)
    if (c.name == name) {
      c.total++;
      if (ok) c.ok++;
    }
}

std::string Session::disconnect_stats() const {
  std::string out;
  int ok = 0, total = 0;
  for (const auto& c : counters_) {
    if (c.total == 0) continue;
    ok += c.ok;
    total += c.total;
    out += c.ok == c.total ? fmt::format(" {}={}", c.name, c.ok)
                           : fmt::format(" {}={}/{}", c.name, c.ok, c.total);
  }
  out += (ok == total && total > 0) ? fmt::format(" commands={}", ok)
                                    : fmt::format(" commands={}/{}", ok, total);
  return out;
}

void Session::reply(std::string_view text) {
  if (!text.empty() && (text[0] == '4' || text[0] == '5')) {
    error_count_++;
    if (error_count_ > cfg_.soft_error_limit && cfg_.error_sleep_time > 0)
      std::this_thread::sleep_for(std::chrono::seconds(cfg_.error_sleep_time));
  }
  s_.write(text);
  s_.write("\r\n");
  // Pipelined replies go out together when more commands are waiting.
  if (!s_.has_buffered_input()) (void)s_.flush();
}

void Session::reset() {
  abort_queue();
  if (ext_.milter) ext_.milter->abort();
  in_mail_ = false;
  st_.sender.reset();
  st_.recipient.clear();
  st_.recipient_count = 0;
  st_.discard = st_.hold = false;
  st_.filter.clear();
  st_.redirect.clear();
  st_.prepend.clear();
  recipients_.clear();
  rcpt_attempts_ = 0;
  msg_size_ = 0;
  envid_.clear();
  ret_.clear();
  sasl_sender_.clear();
  smtputf8_ = false;
  body_type_.clear();
  queue_failed_ = false;
  bdat_active_ = bdat_error_ = bdat_too_big_ = false;
  bdat_partial_.clear();
  xforward_.clear();
}

void Session::abort_queue() { sink_.reset(); }

Status Session::open_queue() {
  if (sink_) return {};
  int flags = kCleanupFlagsExternal;
  if (!ext_.milter) flags &= ~kCleanupFlagMilter;
  if (smtputf8_) flags |= kCleanupFlagSmtputf8;
  auto sink = opener_(flags);
  if (!sink) return std::unexpected(sink.error());
  sink_ = std::move(*sink);
  {
    std::string line = fmt::format("{}: client={}", sink_->queue_id(), namaddr());
    if (!st_.sasl_username.empty())
      line += fmt::format(", sasl_method={}, sasl_username={}", sasl_method_, st_.sasl_username);
    if (!sasl_sender_.empty()) line += ", sasl_sender=" + sasl_sender_;
    log::info("{}", line);
  }
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  auto rec = [this](int t, std::string_view d) { return sink_->record(t, d); };
  Status st = rec(rec::kTime, fmt::format("{} {}", tv.tv_sec, tv.tv_usec));
  auto attr = [&](std::string_view n, std::string_view v) {
    if (st) st = rec(rec::kAttr, fmt::format("{}={}", n, v));
  };
  attr("rewrite_context", "remote");
  auto fwd = [&](std::string_view name, std::string value) {
    for (const auto& [k, v] : xforward_)
      if (k == name) return v;
    return value;
  };
  attr("log_client_name", fwd("log_client_name", st_.client_name));
  attr("log_client_address", fwd("log_client_address", st_.client_addr));
  attr("log_client_port", fwd("log_client_port", std::to_string(st_.client_port)));
  attr("log_message_origin", namaddr());
  attr("log_helo_name", fwd("log_helo_name", st_.helo));
  attr("log_protocol_name", fwd("log_protocol_name", st_.protocol));
  for (const auto& [k, v] : xforward_)
    if (k == "log_ident" || k == "log_rewrite_context") attr(k, v);
  attr("client_name", st_.client_name);
  attr("reverse_client_name", st_.reverse_name);
  attr("client_address", st_.client_addr);
  attr("client_port", std::to_string(st_.client_port));
  attr("helo_name", st_.helo);
  attr("protocol_name", st_.protocol);
  if (!st_.sasl_username.empty()) {
    attr("sasl_method", sasl_method_);
    attr("sasl_username", st_.sasl_username);
  }
  if (!sasl_sender_.empty()) attr("sasl_sender", sasl_sender_);
  if (body_type_ == "8BITMIME") attr("encoding", "8bit");
  else if (body_type_ == "7BIT") attr("encoding", "7bit");
  if (st) st = rec(rec::kSender, st_.sender.value_or(""));
  if (st && !envid_.empty()) st = rec(rec::kDsnEnvid, envid_);
  if (st && !ret_.empty()) st = rec(rec::kDsnRet, ret_ == "FULL" ? "1" : "2");
  if (!st) {
    sink_.reset();
    return st;
  }
  return {};
}

Status Session::send_envelope_recipient(const std::string& rcpt, int notify,
                                        const std::string& orcpt) {
  Status st;
  if (!orcpt.empty()) st = sink_->record(rec::kDsnOrcpt, orcpt);
  if (st && notify) st = sink_->record(rec::kDsnNotify, std::to_string(notify));
  if (st) st = sink_->record(rec::kRecipient, rcpt);
  return st;
}

bool Session::cmd_helo(const std::string& args, bool ehlo) {
  if (args.empty()) {
    reply(ehlo ? "501 Syntax: EHLO hostname" : "501 Syntax: HELO hostname");
    return false;
  }
  reset();
  st_.helo = args.substr(0, args.find_first_of(" \t"));
  ehlo_ = ehlo;
  if (auto r = ext_.milter ? ext_.milter->helo(st_, ehlo) : std::nullopt) {
    st_.helo.clear();
    reply(*r);
    return false;
  }
  set_protocol();
  if (auto r = checker_.check(Stage::kHelo, st_)) {
    st_.helo.clear();
    reply(*r);
    return false;
  }
  if (!ehlo) {
    reply("250 " + cfg_.myhostname);
    return true;
  }
  std::vector<std::string> kw;
  auto add = [&](std::string_view k, std::string_view text) {
    for (const auto& d : cfg_.discard_ehlo_keywords)
      if (d == lowercase(k)) return;
    kw.emplace_back(text);
  };
  add("pipelining", "PIPELINING");
  if (cfg_.message_size_limit > 0) add("size", fmt::format("SIZE {}", cfg_.message_size_limit));
  else add("size", "SIZE");
  if (!cfg_.disable_vrfy) add("vrfy", "VRFY");
  add("etrn", "ETRN");
  if (ext_.tls && !tls_active_) add("starttls", "STARTTLS");
  if (auth_offered() &&
      !(ext_.sasl_exception && ext_.sasl_exception(st_.client_name, st_.client_addr))) {
    std::string mechs;
    auto session = ext_.sasl->open(sasl::ConnectionInfo{st_.client_addr, st_.client_port, "", 0,
                                                        tls_active_, false});
    if (session) {
      for (const auto& m : (*session)->mechanisms()) mechs += (mechs.empty() ? "" : " ") + m;
      if (!mechs.empty()) {
        add("auth", "AUTH " + mechs);
        if (cfg_.broken_sasl_auth_clients) add("auth", "AUTH=" + mechs);
      }
    } else {
      log::warn("SASL authentication failure: {}", session.error().text);
    }
  }
  if (xclient_ok_)
    add("xclient", "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT");
  if (xforward_ok_) add("xforward", "XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT");
  add("enhancedstatuscodes", "ENHANCEDSTATUSCODES");
  add("8bitmime", "8BITMIME");
  add("dsn", "DSN");
  add("smtputf8", "SMTPUTF8");
  add("chunking", "CHUNKING");
  std::string out = "250" + std::string(kw.empty() ? " " : "-") + cfg_.myhostname;
  for (size_t i = 0; i < kw.size(); i++)
    out += "\r\n250" + std::string(i + 1 == kw.size() ? " " : "-") + kw[i];
  reply(out);
  return true;
}

bool Session::cmd_mail(const std::string& args) {
  if (cfg_.helo_required && st_.helo.empty()) {
    reply("503 5.5.1 Error: send HELO/EHLO first");
    return false;
  }
  if (in_mail_) {
    reply("503 5.5.1 Error: nested MAIL command");
    return false;
  }
  if (ext_.tls_required && !tls_active_) {
    reply(ext_.tls_unavailable ? "454 4.7.0 TLS not available due to local problem"
                               : "530 5.7.0 Must issue a STARTTLS command first");
    return false;
  }
  if (!istarts_with(args, "FROM:")) {
    reply("501 5.5.4 Syntax: MAIL FROM:<address>");
    return false;
  }
  auto p = parse_path(std::string_view(args).substr(5), cfg_.strict_rfc821);
  if (!p) {
    reply("501 5.5.4 Syntax: MAIL FROM:<address>");
    return false;
  }
  if (p->bad_syntax) {
    reply("501 5.1.7 Bad sender address syntax");
    return false;
  }
  std::string envid, ret, body, sasl_sender;
  bool utf8 = false;
  for (const auto& param : p->params) {
    auto [name, value] = split_param(param);
    if (name == "SIZE") {
      auto n = parse_ulong(value);
      if (!n || value.empty()) {
        reply("501 5.5.4 Bad message size syntax");
        return false;
      }
      msg_size_ = static_cast<long long>(std::min<unsigned long long>(*n, 1ULL << 62));
    } else if (name == "BODY") {
      if (!iequals(value, "8BITMIME") && !iequals(value, "7BIT")) {
        reply("555 5.5.4 Unsupported option: " + param);
        return false;
      }
      body = uppercase(value);
    } else if (name == "RET") {
      if (!iequals(value, "FULL") && !iequals(value, "HDRS")) {
        reply("501 5.5.4 Bad RET parameter syntax");
        return false;
      }
      ret = uppercase(value);
    } else if (name == "ENVID") {
      auto d = xtext_decode(value);
      if (!d || d->empty() || d->size() > 100) {
        reply("501 5.5.4 Bad ENVID parameter syntax");
        return false;
      }
      envid = *d;
    } else if (name == "SMTPUTF8" && value.empty()) {
      utf8 = true;
    } else if (name == "AUTH") {
      // AUTH=<> or AUTH=<who sent it>: kept for the log and cleanup, as
      // Postfix does; ignored without SASL.
      if (!cfg_.sasl_enable || !ext_.sasl) continue;
      if (!sasl_sender.empty()) {
        reply("503 5.5.4 Error: multiple AUTH= options");
        return false;
      }
      if (value != "<>") sasl_sender = printable(value);
    } else {
      reply("555 5.5.4 Unsupported option: " + param);
      return false;
    }
  }
  if (cfg_.message_size_limit > 0 && msg_size_ > cfg_.message_size_limit) {
    reply("552 5.3.4 Message size exceeds fixed limit");
    return false;
  }
  // Room in the queue: queue_minfree, and 1.5 x message_size_limit.
  struct statvfs fs;
  if (!cfg_.queue_directory.empty() && statvfs(cfg_.queue_directory.c_str(), &fs) == 0) {
    double space = static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize);
    double need = std::max(static_cast<double>(cfg_.queue_minfree),
                           1.5 * static_cast<double>(cfg_.message_size_limit));
    if (msg_size_ > 0) need = std::max(need, static_cast<double>(cfg_.queue_minfree) + msg_size_);
    if (space < need) {
      log::warn("not enough free space in mail queue: {:.0f} bytes < {:.0f} bytes needed", space,
                need);
      reply("452 4.3.1 Insufficient system storage");
      return false;
    }
  }
  if (ext_.anvil && cfg_.message_rate_limit > 0) {
    auto rate = ext_.anvil->message(ext_.service, st_.client_addr);
    if (rate && *rate > cfg_.message_rate_limit) {
      log::warn("Message delivery request rate limit exceeded: {} from {} for service {}", *rate,
                namaddr(), ext_.service);
      reply(fmt::format("450 4.7.1 Error: too much mail from {}", st_.client_addr));
      return false;
    }
  }
  st_.sender = p->address;
  st_.size = msg_size_;
  if (auto r = checker_.check(Stage::kSender, st_)) {
    st_.sender.reset();
    reply(*r);
    return false;
  }
  if (auto r = ext_.milter ? ext_.milter->mail(st_, args) : std::nullopt) {
    st_.sender.reset();
    reply(*r);
    return false;
  }
  envid_ = envid;
  ret_ = ret;
  sasl_sender_ = sasl_sender;
  body_type_ = body;
  smtputf8_ = utf8;
  in_mail_ = true;
  reply("250 2.1.0 Ok");
  return true;
}

bool Session::cmd_rcpt(const std::string& args) {
  if (!in_mail_) {
    reply("503 5.5.1 Error: need MAIL command");
    return false;
  }
  if (!istarts_with(args, "TO:")) {
    reply("501 5.5.4 Syntax: RCPT TO:<address>");
    return false;
  }
  auto p = parse_path(std::string_view(args).substr(3), cfg_.strict_rfc821);
  if (!p) {
    reply("501 5.5.4 Syntax: RCPT TO:<address>");
    return false;
  }
  if (p->bad_syntax || p->address.empty()) {
    reply("501 5.1.3 Bad recipient address syntax");
    return false;
  }
  if (static_cast<long long>(recipients_.size()) >= cfg_.recipient_limit) {
    reply("452 4.5.3 Error: too many recipients");
    return false;
  }
  int notify = 0;
  std::string orcpt;
  for (const auto& param : p->params) {
    auto [name, value] = split_param(param);
    if (name == "NOTIFY") {
      notify = parse_notify(value);
      if (!notify) {
        reply("501 5.5.4 Error: Bad NOTIFY parameter syntax");
        return false;
      }
    } else if (name == "ORCPT") {
      size_t semi = value.find(';');
      auto decoded = semi == std::string::npos ? std::nullopt
                                               : xtext_decode(std::string_view(value).substr(semi + 1));
      if (!decoded || semi == 0) {
        reply("501 5.5.4 Error: Bad ORCPT parameter syntax");
        return false;
      }
      orcpt = value.substr(0, semi) + ";" + *decoded;
    } else {
      reply("555 5.5.4 Unsupported option: " + param);
      return false;
    }
  }
  if (ext_.anvil && cfg_.recipient_rate_limit > 0) {
    auto rate = ext_.anvil->recipient(ext_.service, st_.client_addr);
    if (rate && *rate > cfg_.recipient_rate_limit) {
      log::warn("Recipient address rate limit exceeded: {} from {} for service {}", *rate,
                namaddr(), ext_.service);
      reply(fmt::format("450 4.7.1 Error: too many recipients from {}", st_.client_addr));
      return false;
    }
  }
  st_.recipient = p->address;
  st_.recipient_count = static_cast<int>(recipients_.size());
  auto r = checker_.check(Stage::kRecipient, st_);
  if (r) {
    reply(*r);
    st_.recipient.clear();
    return false;
  }
  if (auto m = ext_.milter ? ext_.milter->rcpt(st_, args) : std::nullopt) {
    reply(*m);
    st_.recipient.clear();
    return false;
  }
  if (!sink_ && !queue_failed_) {
    if (auto st = open_queue(); !st) {
      log::warn("connect to cleanup service: {}", st.error().text);
      queue_failed_ = true;
    }
  }
  Status sent = queue_failed_ || !sink_ ? Status(fail(Errc::kIo, "no queue"))
                                       : send_envelope_recipient(p->address, notify, orcpt);
  // smtpd_proxy_filter: the filter's own refusal goes back as it is.
  auto proxied = proxy_reply(sink_.get());
  if (!sent && proxied && sent.error().code == Errc::kPermanent && !proxied->empty()) {
    st_.recipient.clear();
    reply(*proxied);
    return false;
  }
  if (!sent) {
    queue_failed_ = true;
    st_.recipient.clear();
    reply("451 4.3.0 Error: queue file write error");
    return false;
  }
  recipients_.push_back(p->address);
  st_.recipient.clear();
  reply("250 2.1.5 Ok");
  return true;
}

std::string Session::received_header() {
  std::string id = sink_ ? sink_->queue_id() : "";
  std::string from = st_.helo.empty() ? st_.client_name : st_.helo;
  std::string h = fmt::format("Received: from {} ({} [{}])", from, st_.client_name, st_.client_addr);
  // smtpd_tls_received_header / smtpd_sasl_authenticated_header lines come
  // before "by", as Postfix writes them.
  if (tls_info_ && cfg_.tls_received_header)
    for (const auto& l : tls::received_header_lines(*tls_info_, ext_.tls && ext_.tls->ask_ccert()))
      h += "\n\t" + l;
  if (!st_.sasl_username.empty() && cfg_.sasl_authenticated_header)
    h += fmt::format("\n\t(Authenticated sender: {})", st_.sasl_username);
  h += fmt::format("\n\tby {} ({}) with {} id {}", cfg_.myhostname, cfg_.mail_name, st_.protocol, id);
  std::string date = mail_date(std::time(nullptr));
  if (recipients_.size() == 1)
    h += fmt::format("\n\tfor <{}>; {}", externalize_address(recipients_[0]), date);
  else
    h += fmt::format(";\n\t{}", date);
  return h;
}

Status Session::content_line(std::string_view line, bool complete) {
  if (!sink_) return {};
  // Chunks of an over-long line are continuation records.
  return sink_->record(complete ? rec::kNorm : rec::kCont, line);
}

std::string Session::finish_message(bool too_big, bool write_error) {
  if (too_big) {
    abort_queue();
    return "552 5.3.4 Message size exceeds fixed limit";
  }
  if (!sink_ || write_error) {
    abort_queue();
    return "451 4.3.0 Error: queue file write error";
  }
  if (auto r = checker_.check(Stage::kEndOfData, st_)) {
    abort_queue();
    return r->str();
  }
  Status st = sink_->record(rec::kExtracted, "");
  if (!st) {
    abort_queue();
    return "451 4.3.0 Error: queue file write error";
  }
  auto out = sink_->finish();
  std::string id = sink_->queue_id();
  if (auto proxied = proxy_reply(sink_.get()); proxied && out) {
    // smtpd_proxy_filter: the filter's verdict is the client's reply.
    log::info("proxy-{}: END-OF-MESSAGE: {};{}{} proto={}{}",
              out->status == 0 ? "accept" : "reject", *proxied,
              st_.sender ? fmt::format(" from=<{}>", *st_.sender) : std::string(),
              recipients_.empty() ? std::string() : fmt::format(" to=<{}>", recipients_.back()),
              st_.protocol, st_.helo.empty() ? std::string() : fmt::format(" helo=<{}>", st_.helo));
    sink_.reset();
    return *proxied;
  }
  if (!out) {
    abort_queue();
    return "451 4.3.0 Error: queue file write error";
  }
  if (out->status == 0) {
    sink_.reset();
    return fmt::format("250 2.0.0 Ok: queued as {}", id);
  }
  CleanupStatusDetail d = cleanup_status_detail(out->status);
  sink_.reset();
  // cleanup's reason may carry its own enhanced code ("5.7.1 text").
  const std::string& why = out->reason;
  if (why.empty()) return fmt::format("{} {} Error: {}", d.smtp, d.dsn, d.text);
  if (why.size() > 4 && isdigit(static_cast<unsigned char>(why[0])) && why[3] == ' ')
    return why;  // a whole SMTP reply (a milter's)
  bool has_dsn = why.size() > 5 && (why[0] == '4' || why[0] == '5') && why[1] == '.';
  int code = d.smtp;
  if (has_dsn && why[0] != static_cast<char>('0' + code / 100)) code = (why[0] - '0') * 100 + code % 100;
  if (has_dsn) return fmt::format("{} {}", code, why);
  return fmt::format("{} {} {}", d.smtp, d.dsn, why);
}

// The envelope records decided by the restrictions (HOLD, DISCARD, FILTER,
// REDIRECT), then the start of content, the Received: header and PREPENDs.
Status Session::begin_content() {
  if (!sink_) return {};
  Status st;
  int extra = (st_.hold ? kCleanupFlagHold : 0) | (st_.discard ? kCleanupFlagDiscard : 0);
  if (extra) st = sink_->record(rec::kFlags, std::to_string(extra));
  // A FILTER action wins over content_filter (which smtpd sends, as
  // Postfix's does, so "-o content_filter=..." on one service works).
  const std::string& filter = st_.filter.empty() ? cfg_.content_filter : st_.filter;
  // An empty record tells cleanup not to apply main.cf's content_filter
  // (the re-injection service of an after-queue filter).
  if (st && (!filter.empty() || cfg_.no_content_filter)) st = sink_->record(rec::kFilter, filter);
  if (st && !st_.redirect.empty()) st = sink_->record(rec::kRedirect, st_.redirect);
  if (st && ext_.milter) st = ext_.milter->hand_over(*sink_, st_);
  if (st) st = sink_->record(rec::kMessage, "");
  if (st) {
    std::string h = received_header();
    for (auto l : split(h, "\n"))
      if (st) st = sink_->record(rec::kNorm, l);
  }
  for (const auto& p : st_.prepend)
    if (st) st = sink_->record(rec::kNorm, p);
  return st;
}

bool Session::cmd_data(const std::string& args) {
  if (!args.empty()) {
    reply("501 5.5.4 Syntax: DATA");
    return false;
  }
  if (!in_mail_) {
    reply("503 5.5.1 Error: need RCPT command");
    return false;
  }
  if (recipients_.empty()) {
    reply(queue_failed_ ? "451 4.3.0 Error: queue file write error"
                        : "554 5.5.1 Error: no valid recipients");
    return false;
  }
  if (auto r = checker_.check(Stage::kData, st_)) {
    reply(*r);
    return false;
  }
  if (auto r = ext_.milter ? ext_.milter->data(st_, sink_ ? sink_->queue_id() : "") : std::nullopt) {
    reply(*r);
    return false;
  }
  Status begun = begin_content();
  bool write_error = !begun;
  if (auto proxied = proxy_reply(sink_.get()); proxied && !begun && !proxied->empty()) {
    reply(*proxied);  // the filter refused DATA
    reset();
    return false;
  }
  reply("354 End data with <CR><LF>.<CR><LF>");
  (void)s_.flush();
  last_command_ = "DATA";
  bool too_big = false;
  bool prev_complete = true;   // the previous line ended in CRLF (dot detection)
  data_bytes_ = 0;
  for (;;) {
    bool complete = false;
    auto line = s_.read_line(static_cast<size_t>(cfg_.line_length_limit), &complete);
    if (!line) {
      log::info("{} after DATA ({} bytes) from {}",
                line.error().code == Errc::kTimeout ? "timeout" : "lost connection", data_bytes_,
                namaddr());
      if (line.error().code == Errc::kTimeout)
        (void)s_.write_flush(fmt::format("421 4.4.2 {} Error: timeout exceeded\r\n", cfg_.myhostname));
      abort_queue();
      quit_ = true;
      return false;
    }
    std::string& l = *line;
    bool crlf = complete && !l.empty() && l.back() == '\r';
    if (crlf) l.pop_back();
    if (complete && !crlf && cfg_.forbid_bare_newline) {
      abort_queue();
      (void)s_.write_flush(fmt::format("521 5.5.2 {} Error: bare <LF> received\r\n", cfg_.myhostname));
      log::info("disconnect: bare <LF> received from {} after DATA", namaddr());
      quit_ = true;
      return false;
    }
    // Only <CR><LF>.<CR><LF> ends the message (no SMTP smuggling).
    if (crlf && prev_complete && l == ".") break;
    bool was_complete_crlf = crlf;
    std::string_view text = l;
    if (prev_complete && !text.empty() && text[0] == '.') text.remove_prefix(1);
    data_bytes_ += static_cast<long long>(text.size()) + (complete ? 2 : 0);
    if (cfg_.message_size_limit > 0 && data_bytes_ > cfg_.message_size_limit) too_big = true;
    if (!too_big && !write_error) {
      if (!content_line(text, complete)) write_error = true;
    }
    prev_complete = was_complete_crlf;
    // A bare LF still ends a line of content, but cannot start a dot line.
    if (complete && !crlf) prev_complete = false;
  }
  std::string r = finish_message(too_big, write_error);
  bool ok = r[0] == '2';
  reply(r);
  in_mail_ = false;
  reset();
  return ok;
}

// One line of BDAT content (without its line ending).
void Session::bdat_line(std::string_view l) {
  data_bytes_ += static_cast<long long>(l.size()) + 2;
  if (cfg_.message_size_limit > 0 && data_bytes_ > cfg_.message_size_limit) bdat_too_big_ = true;
  if (!bdat_too_big_ && !bdat_error_ && !content_line(l, true)) bdat_error_ = true;
}

// Splits chunk data into lines as it arrives; a partial line waits for more.
void Session::bdat_feed(std::string_view data) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      bdat_partial_.append(data);
      // An endless line is cut into pieces like DATA's over-long lines.
      if (bdat_partial_.size() > static_cast<size_t>(cfg_.line_length_limit)) {
        data_bytes_ += static_cast<long long>(bdat_partial_.size());
        if (cfg_.message_size_limit > 0 && data_bytes_ > cfg_.message_size_limit) bdat_too_big_ = true;
        if (!bdat_too_big_ && !bdat_error_ && !content_line(bdat_partial_, false)) bdat_error_ = true;
        bdat_partial_.clear();
      }
      return;
    }
    bdat_partial_.append(data.substr(0, nl));
    if (!bdat_partial_.empty() && bdat_partial_.back() == '\r') bdat_partial_.pop_back();
    bdat_line(bdat_partial_);
    bdat_partial_.clear();
    data.remove_prefix(nl + 1);
  }
}

bool Session::cmd_bdat(const std::string& args) {
  auto words = split(args, " \t");
  auto n = words.empty() ? std::nullopt : parse_ulong(words[0]);
  bool last = words.size() == 2 && iequals(words[1], "LAST");
  if (!n || words.size() > 2 || (words.size() == 2 && !last) ||
      words[0].find_first_not_of("0123456789") != std::string_view::npos) {
    reply("521 5.5.4 Syntax: BDAT count [LAST]");
    quit_ = true;
    return false;
  }
  // Decide first, but read the chunk whatever happens so the session stays in sync.
  std::optional<std::string> refusal;
  if (!in_mail_) refusal = "503 5.5.1 Error: need RCPT command";
  else if (recipients_.empty()) refusal = "554 5.5.1 Error: no valid recipients";
  else if (!bdat_active_) {
    if (auto r = checker_.check(Stage::kData, st_)) {
      refusal = r->str();
    } else {
      bdat_active_ = true;
      data_bytes_ = 0;
      if (!begin_content()) bdat_error_ = true;
    }
  }
  unsigned long long left = *n;
  while (left > 0) {
    auto part = s_.read_some(static_cast<size_t>(std::min<unsigned long long>(left, 65536)));
    if (!part) {
      log::info("{} after BDAT from {}",
                part.error().code == Errc::kTimeout ? "timeout" : "lost connection", namaddr());
      abort_queue();
      quit_ = true;
      return false;
    }
    left -= part->size();
    if (!refusal) bdat_feed(*part);
  }
  if (refusal) {
    reply(*refusal);
    if (bdat_active_ || in_mail_) reset();
    return false;
  }
  if (!last) {
    if (bdat_too_big_) {
      reply("552 5.3.4 Message size exceeds fixed limit");
      reset();
      return false;
    }
    reply(fmt::format("250 2.0.0 Ok: {} bytes", *n));
    return true;
  }
  if (!bdat_partial_.empty()) {
    bdat_line(bdat_partial_);
    bdat_partial_.clear();
  }
  std::string r = finish_message(bdat_too_big_, bdat_error_);
  bool ok = r[0] == '2';
  if (ok) r = fmt::format("250 2.0.0 Ok: {} bytes queued as {}", data_bytes_, r.substr(r.rfind(' ') + 1));
  reply(r);
  reset();
  return ok;
}

bool Session::cmd_vrfy(const std::string& args) {
  if (cfg_.disable_vrfy) {
    reply("502 5.5.1 VRFY command is disabled");
    return false;
  }
  if (args.empty()) {
    reply("501 5.5.4 Syntax: VRFY address [SMTPUTF8]");
    return false;
  }
  auto p = parse_path(args, false);
  if (!p || p->bad_syntax) {
    reply("501 5.1.3 Bad recipient address syntax");
    return false;
  }
  std::string saved = st_.recipient;
  st_.recipient = p->address;
  auto r = checker_.check(Stage::kVrfy, st_);
  st_.recipient = saved;
  if (r) {
    reply(*r);
    return false;
  }
  reply("252 2.0.0 " + (p->bracketed ? "<" + p->external + ">" : p->external));
  return true;
}

bool Session::cmd_etrn(const std::string& args) {
  if (args.empty()) {
    reply("500 Syntax: ETRN domain");
    return false;
  }
  if (cfg_.helo_required && st_.helo.empty()) {
    reply("503 Error: send HELO/EHLO first");
    return false;
  }
  if (in_mail_) {
    reply("503 Error: MAIL transaction in progress");
    return false;
  }
  std::string domain = args[0] == '@' ? args.substr(1) : args;
  st_.etrn_domain = domain;
  if (auto r = checker_.check(Stage::kEtrn, st_)) {
    reply(*r);
    return false;
  }
  log::warn("reject: ETRN {}... from {}", domain, namaddr());
  reply(fmt::format("459 <{}>: service unavailable", domain));
  return false;
}

namespace {

// An XCLIENT/XFORWARD value: xtext, with [UNAVAILABLE] and [TEMPUNAVAIL].
std::optional<std::string> x_value(std::string_view raw) {
  auto v = xtext_decode(raw);
  if (!v) return std::nullopt;
  if (*v == "[UNAVAILABLE]" || *v == "[TEMPUNAVAIL]") return std::string();
  return v;
}

}  // namespace

bool Session::cmd_xclient(const std::string& args) {
  CheckState next = st_;
  std::optional<std::string> proto, helo;
  for (auto w : split(args, " \t")) {
    auto [name, raw] = split_param(w);
    auto v = x_value(raw);
    if (!v) {
      reply(fmt::format("501 5.5.4 Bad {} syntax: {}", name, raw));
      return false;
    }
    if (name == "NAME") {
      next.client_name = v->empty() ? "unknown" : *v;
    } else if (name == "REVERSE_NAME") {
      next.reverse_name = v->empty() ? "unknown" : *v;
    } else if (name == "ADDR") {
      std::string a = istarts_with(*v, "IPV6:") ? v->substr(5) : *v;
      if (!a.empty() && !valid_hostaddr(a)) {
        reply(fmt::format("501 5.5.4 Bad ADDR syntax: {}", raw));
        return false;
      }
      next.client_addr = a.empty() ? "unknown" : a;
    } else if (name == "PORT") {
      auto port = parse_ulong(*v);
      if (!v->empty() && (!port || *port > 65535)) {
        reply(fmt::format("501 5.5.4 Bad PORT syntax: {}", raw));
        return false;
      }
      next.client_port = port ? static_cast<int>(*port) : 0;
    } else if (name == "PROTO") {
      if (!iequals(*v, "SMTP") && !iequals(*v, "ESMTP")) {
        reply(fmt::format("501 5.5.4 Bad PROTO syntax: {}", raw));
        return false;
      }
      proto = uppercase(*v);
    } else if (name == "HELO") {
      helo = *v;
    } else if (name == "LOGIN") {
      next.sasl_username = *v;
    } else if (name == "DESTADDR" || name == "DESTPORT") {
      // Accepted; the server side is not shown anywhere yet.
    } else {
      reply(fmt::format("501 5.5.4 Bad XCLIENT attribute name: {}", name));
      return false;
    }
  }
  reset();
  next.helo = helo.value_or("");
  next.sender.reset();
  next.recipient.clear();
  st_ = std::move(next);
  st_.log = [this](std::string_view a, std::string_view stage, std::string_view t) {
    log_action(a, stage, t);
  };
  ehlo_ = proto && *proto == "ESMTP";
  st_.protocol = proto.value_or("SMTP");
  xclient_ok_ = ext_.xclient_authorized && ext_.xclient_authorized(st_.client_name, st_.client_addr);
  // XFORWARD permission stays what it was at connect time (as in Postfix).
  reply("220 " + cfg_.banner);
  return true;
}

bool Session::cmd_xforward(const std::string& args) {
  if (in_mail_) {
    reply("503 5.5.1 Error: MAIL transaction in progress");
    return false;
  }
  std::vector<std::pair<std::string, std::string>> attrs;
  for (auto w : split(args, " \t")) {
    auto [name, raw] = split_param(w);
    auto v = x_value(raw);
    if (!v) {
      reply(fmt::format("501 5.5.4 Bad {} syntax: {}", name, raw));
      return false;
    }
    std::string key;
    if (name == "NAME") key = "log_client_name";
    else if (name == "ADDR") key = "log_client_address";
    else if (name == "PORT") key = "log_client_port";
    else if (name == "PROTO") key = "log_protocol_name";
    else if (name == "HELO") key = "log_helo_name";
    else if (name == "IDENT") key = "log_ident";
    else if (name == "SOURCE") key = "log_rewrite_context";
    else {
      reply(fmt::format("501 5.5.4 Bad XFORWARD attribute name: {}", name));
      return false;
    }
    if (key == "log_client_address" && istarts_with(*v, "IPV6:")) *v = v->substr(5);
    if (key == "log_rewrite_context") *v = iequals(*v, "LOCAL") ? "local" : "remote";
    attrs.emplace_back(key, *v);
  }
  for (auto& a : attrs) xforward_.push_back(std::move(a));
  reply("250 2.0.0 Ok");
  return true;
}

void Session::set_protocol() {
  if (!ehlo_) {
    st_.protocol = "SMTP";
    return;
  }
  st_.protocol = std::string("ESMTP") + (tls_active_ ? "S" : "") +
                 (st_.sasl_username.empty() ? "" : "A");
}

bool Session::auth_offered() const {
  return ext_.sasl && cfg_.sasl_enable && (!cfg_.tls_auth_only || tls_active_) &&
         st_.sasl_username.empty();
}

// Handshake on the client connection (after "220 Ready" or at once in
// wrapper mode). False when the connection cannot go on.
bool Session::start_tls() {
  (void)s_.flush();
  tls::Peer peer;
  peer.name = st_.client_name;
  peer.addr = st_.client_addr;
  peer.port = st_.client_port;
  auto info = ext_.tls->start(s_, peer, Clock::now() + cfg_.starttls_timeout);
  if (!info) {
    // The TLS library logged "SSL_accept error from ..."; then Postfix's line.
    log::info("lost connection after {} from {}", last_command_, namaddr());
    quit_ = true;
    return false;
  }
  tls_active_ = true;
  tls_info_ = *info;
  st_.tls_active = true;
  st_.ccert_present = info->peer_has_cert;
  st_.ccert_trusted = info->peer_has_cert && info->peer_trusted;
  st_.ccert_fingerprint = info->peer_cert_fingerprint;
  st_.ccert_pkey_fingerprint = info->peer_pkey_fingerprint;
  st_.ccert_subject = info->peer_cn;
  // A full handshake counts towards smtpd_client_new_tls_session_rate_limit;
  // the one over the limit is told so over TLS and dropped, as Postfix does.
  if (ext_.anvil && cfg_.newtls_rate_limit > 0 && !info->session_reused) {
    auto rate = ext_.anvil->newtls(ext_.service, st_.client_addr);
    if (rate && *rate > cfg_.newtls_rate_limit) {
      log::warn("New TLS session rate limit exceeded: {} from {} for service {}", *rate,
                namaddr(), ext_.service);
      (void)s_.write_flush(fmt::format("421 4.7.0 {} Error: too many new TLS sessions from {}\r\n",
                                       cfg_.myhostname, namaddr()));
      quit_ = true;
      return false;
    }
  }
  return true;
}

// smtpd_client_new_tls_session_rate_limit, checked before STARTTLS.
bool Session::newtls_rate_exceeded() {
  if (!ext_.anvil || cfg_.newtls_rate_limit <= 0) return false;
  auto rate = ext_.anvil->newtls_status(ext_.service, st_.client_addr);
  if (!rate || *rate <= cfg_.newtls_rate_limit) return false;
  log::warn("Refusing STARTTLS request from {} for service {}", namaddr(), ext_.service);
  return true;
}

bool Session::cmd_starttls(const std::string& args) {
  if (!args.empty()) {
    reply("501 5.5.4 Syntax: STARTTLS");
    return false;
  }
  if (tls_active_) {
    reply("554 5.5.1 Error: TLS already active");
    return false;
  }
  if (!ext_.tls) {
    if (ext_.tls_unavailable) reply("454 4.7.0 TLS not available due to local problem");
    else reply("502 5.5.1 Error: command not implemented");
    return false;
  }
  if (newtls_rate_exceeded()) {
    reply(fmt::format("454 4.7.0 Error: too many new TLS sessions from {}", namaddr()));
    return false;
  }
  s_.write("220 2.0.0 Ready to start TLS\r\n");
  if (!start_tls()) return false;
  // RFC 3207: forget everything learned before the handshake.
  reset();
  st_.helo.clear();
  ehlo_ = false;
  set_protocol();
  return true;
}

bool Session::cmd_auth(const std::string& args) {
  if (!ext_.sasl || !cfg_.sasl_enable || (cfg_.tls_auth_only && !tls_active_)) {
    reply("503 5.5.1 Error: authentication not enabled");
    return false;
  }
  if (!ehlo_) {
    reply("503 5.5.1 Error: send EHLO first");
    return false;
  }
  if (!st_.sasl_username.empty()) {
    reply("503 5.5.1 Error: already authenticated");
    return false;
  }
  if (in_mail_) {
    reply("503 5.5.1 Error: MAIL transaction in progress");
    return false;
  }
  auto words = split(args, " \t");
  if (words.empty() || words.size() > 2) {
    reply("501 5.5.4 Syntax: AUTH mechanism");
    return false;
  }
  std::string mech = uppercase(words[0]);
  if (ext_.anvil && cfg_.auth_rate_limit > 0) {
    auto rate = ext_.anvil->auth(ext_.service, st_.client_addr);
    if (rate && *rate > cfg_.auth_rate_limit) {
      log::warn("AUTH command rate limit exceeded: {} from {} for service {}", *rate, namaddr(),
                ext_.service);
      reply(fmt::format("450 4.7.1 Error: too many AUTH commands from {}", st_.client_addr));
      return false;
    }
  }
  auto session = ext_.sasl->open(sasl::ConnectionInfo{st_.client_addr, st_.client_port, "", 0,
                                                      tls_active_, false});
  if (!session) {
    log::warn("SASL authentication failure: {}", session.error().text);
    reply("454 4.7.0 Temporary authentication failure: " + session.error().text);
    return false;
  }
  std::optional<std::string_view> initial;
  if (words.size() == 2) initial = words[1];
  sasl::ServerReply r = (*session)->start(mech, initial);
  while (r.kind == sasl::ServerReply::Kind::kContinue) {
    reply("334 " + r.challenge);
    (void)s_.flush();
    bool complete = false;
    auto line = s_.read_line(static_cast<size_t>(cfg_.sasl_response_limit), &complete);
    if (!line) {
      quit_ = true;
      return false;
    }
    if (!complete) {
      // Postfix's answer to an over-long response; the rest of the line is skipped.
      for (;;) {
        bool c2 = false;
        auto more = s_.read_line(static_cast<size_t>(cfg_.sasl_response_limit), &c2);
        if (!more || c2) break;
      }
      log::warn("{}: request longer than {}: {}...", namaddr(), cfg_.sasl_response_limit,
                printable(line->substr(0, 30)));
      reply("500 5.5.6 SASL response limit exceeded");
      return false;
    }
    std::string l = *line;
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (l == "*") {
      reply("501 5.7.0 Authentication aborted");
      return false;
    }
    r = (*session)->step(l);
  }
  if (r.ok()) {
    st_.sasl_username = r.username;
    sasl_method_ = mech;
    set_protocol();
    reply("235 2.7.0 Authentication successful");
    return true;
  }
  // fail2ban reads this line: Postfix adds the user name when it is known.
  log::warn("{}: SASL {} authentication failed: {}, sasl_username={}", namaddr(), mech, r.reason,
            r.username.empty() ? "(unavailable)" : r.username);
  // Malformed base64 is a 535 with the back end's reason, as Debian's Postfix answers.
  if (r.temporary) reply("454 4.7.0 Temporary authentication failure: " + r.reason);
  else reply("535 5.7.8 Error: authentication failed: " + r.reason);
  return false;
}

bool Session::handle(const std::string& raw) {
  // Postfix reads commands as C strings: a NUL byte ends the command.
  std::string_view line(raw.data(), std::min(raw.size(), raw.find('\0')));
  Command c = split_command(line);
  std::string lower = lowercase(c.verb);
  last_command_ = c.verb.empty() ? "CONNECT" : c.verb;
  bool ok = false;
  std::string counted = lower;
  if (lower == "helo") ok = cmd_helo(c.args, false);
  else if (lower == "ehlo") ok = cmd_helo(c.args, true);
  else if (lower == "mail") ok = cmd_mail(c.args);
  else if (lower == "rcpt") ok = cmd_rcpt(c.args);
  else if (lower == "data") ok = cmd_data(c.args);
  else if (lower == "bdat") ok = cmd_bdat(c.args);
  else if (lower == "rset") {
    if (!c.args.empty()) {
      reply("501 5.5.4 Syntax: RSET");
    } else {
      reset();
      reply("250 2.0.0 Ok");
      ok = true;
    }
  } else if (lower == "noop") {
    reply("250 2.0.0 Ok");
    ok = true;
  } else if (lower == "vrfy") ok = cmd_vrfy(c.args);
  else if (lower == "etrn") ok = cmd_etrn(c.args);
  else if (lower == "quit") {
    reply("221 2.0.0 Bye");
    quit_ = true;
    ok = true;
  } else if (lower == "starttls") {
    ok = cmd_starttls(c.args);
  } else if (lower == "auth") {
    ok = cmd_auth(c.args);
  } else if (lower == "xclient" || lower == "xforward") {
    if (c.args.empty()) reply(fmt::format("501 5.5.4 Syntax: {} attribute=value...", c.verb));
    else if (in_mail_ && lower == "xclient") reply("503 5.5.1 Error: MAIL transaction in progress");
    else if (lower == "xclient" ? !xclient_ok_ : !xforward_ok_)
      reply("550 5.7.0 Error: insufficient authorization");
    else if (lower == "xclient") (void)cmd_xclient(c.args);  // counted as failed, as Postfix
    else ok = cmd_xforward(c.args);
  } else {
    counted = "unknown";
    reply("500 5.5.2 Error: command not recognized");
  }
  count(counted, ok);
  if (lower == "noop" || lower == "vrfy" || lower == "etrn" || lower == "rset") {
    if (++junk_count_ > cfg_.junk_command_limit) error_count_++;
  }
  return ok;
}

void Session::run() {
  s_.set_timeout(cfg_.timeout);
  log::info("connect from {}", namaddr());
  if (ext_.anvil && (cfg_.conn_count_limit > 0 || cfg_.conn_rate_limit > 0)) {
    auto counts = ext_.anvil->connect(ext_.service, st_.client_addr);
    std::string why;
    if (counts && cfg_.conn_count_limit > 0 && counts->count > cfg_.conn_count_limit)
      why = fmt::format("Connection concurrency limit exceeded: {}", counts->count);
    else if (counts && cfg_.conn_rate_limit > 0 && counts->rate > cfg_.conn_rate_limit)
      why = fmt::format("Connection rate limit exceeded: {}", counts->rate);
    if (!why.empty()) {
      log::warn("{} from {} for service {}", why, namaddr(), ext_.service);
      (void)s_.write_flush(fmt::format("421 4.7.0 {} Error: too many connections from {}\r\n",
                                       cfg_.myhostname, st_.client_addr));
      (void)ext_.anvil->disconnect(ext_.service, st_.client_addr);
      log::info("disconnect from {}{}", namaddr(), disconnect_stats());
      return;
    }
  }
  if (ext_.tls && ext_.tls->wrappermode() && !start_tls()) {
    if (ext_.anvil) (void)ext_.anvil->disconnect(ext_.service, st_.client_addr);
    log::info("disconnect from {}{}", namaddr(), disconnect_stats());
    return;
  }
  xclient_ok_ = ext_.xclient_authorized && ext_.xclient_authorized(st_.client_name, st_.client_addr);
  xforward_ok_ =
      ext_.xforward_authorized && ext_.xforward_authorized(st_.client_name, st_.client_addr);
  std::optional<Reply> client_reject = checker_.check(Stage::kClient, st_);
  if (!client_reject && ext_.milter) (void)ext_.milter->connect(st_);
  // A client rejected at connect time (smtpd_delay_reject = no) is greeted
  // with the rejection and refused everything but QUIT, as Postfix does.
  if (client_reject) reply(*client_reject);
  else reply("220 " + cfg_.banner);
  (void)s_.flush();
  while (!quit_) {
    if (error_count_ >= cfg_.hard_error_limit) {
      log::info("too many errors after {} from {}", last_command_, namaddr());
      (void)s_.write_flush(fmt::format("421 4.7.0 {} Error: too many errors\r\n", cfg_.myhostname));
      break;
    }
    bool complete = false;
    auto line = s_.read_line(static_cast<size_t>(cfg_.line_length_limit), &complete);
    if (!line) {
      if (line.error().code == Errc::kTimeout) {
        log::info("timeout after {} from {}", last_command_, namaddr());
        (void)s_.write_flush(fmt::format("421 4.4.2 {} Error: timeout exceeded\r\n", cfg_.myhostname));
      } else {
        log::info("lost connection after {} from {}", last_command_, namaddr());
      }
      break;
    }
    if (!complete) {
      // An over-long command: keep its start, skip the rest.
      for (;;) {
        bool c2 = false;
        auto more = s_.read_line(static_cast<size_t>(cfg_.line_length_limit), &c2);
        if (!more || c2) break;
      }
    }
    std::string& l = *line;
    if (!l.empty() && l.back() == '\r') l.pop_back();
    // A client that sends ahead without having been offered PIPELINING.
    if (s_.has_buffered_input() && !pipelining_logged_) {
      std::string verb = uppercase(split_command(l).verb);
      // Commands that must end a pipelined group, or any without EHLO.
      bool must_be_last = verb == "HELO" || verb == "EHLO" || verb == "DATA" || verb == "VRFY" ||
                          verb == "ETRN" || verb == "NOOP" || verb == "STARTTLS" ||
                          verb == "AUTH" || verb == "EXPN";
      if (verb != "QUIT" && (must_be_last || !ehlo_)) {
        // Postfix shows what the client sent ahead, escaped.
        std::string ahead;
        for (char ch : s_.buffered_input().substr(0, 100)) {
          if (ch == '\r') ahead += "\\r";
          else if (ch == '\n') ahead += "\\n";
          else if (ch == '\t') ahead += "\\t";
          else if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ahead += '?';
          else ahead += ch;
        }
        log::info("improper command pipelining after {} from {}: {}", verb, namaddr(), ahead);
        pipelining_logged_ = true;
        st_.unauth_pipelining = true;
      }
    }
    if (client_reject) {
      std::string verb = lowercase(split_command(l).verb);
      if (verb != "quit") {
        reply(fmt::format("503 5.7.0 Error: access denied for {}", namaddr()));
        count(verb == "helo" || verb == "ehlo" || verb == "mail" || verb == "rcpt" ? verb : "unknown", false);
        continue;
      }
    }
    handle(l);
  }
  (void)s_.flush();
  abort_queue();
  if (ext_.anvil) (void)ext_.anvil->disconnect(ext_.service, st_.client_addr);
  log::info("disconnect from {}{}", namaddr(), disconnect_stats());
}

}  // namespace postern::smtpd
