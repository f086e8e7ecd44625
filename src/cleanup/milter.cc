#include "cleanup/milter.h"

#include <unistd.h>

#include <fmt/format.h>

#include "global/cleanup_client.h"
#include "global/config.h"
#include "global/rec_type.h"
#include "global/record.h"
#include "util/log.h"
#include "util/socket.h"
#include "util/strings.h"

namespace postern::cleanup {

namespace {

constexpr size_t kMaxMilters = 64;

// The message as the queue file has it, in a form milters can edit.
struct Model {
  std::vector<Record> envelope;   // records before M, without C
  SizeRecord size;
  std::vector<std::string> headers;  // one entry per header, folded lines joined by "\n"
  bool blank = false;                // an empty line separates headers and body
  std::vector<std::string> body;
  std::vector<Record> extracted;     // records after X, without E

  std::string attr(std::string_view name) const {
    for (const auto& r : envelope) {
      if (r.type != rec::kAttr) continue;
      auto eq = r.data.find('=');
      if (eq != std::string::npos && std::string_view(r.data).substr(0, eq) == name)
        return r.data.substr(eq + 1);
    }
    return "";
  }
  std::string sender() const {
    for (const auto& r : envelope)
      if (r.type == rec::kSender) return r.data;
    return "";
  }
  std::vector<std::string> recipients() const {
    std::vector<std::string> out;
    for (const auto* seg : {&envelope, &extracted})
      for (const auto& r : *seg)
        if (r.type == rec::kRecipient) out.push_back(r.data);
    return out;
  }
};

bool header_start(std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  for (size_t i = 0; i < colon; i++) {
    auto c = static_cast<unsigned char>(line[i]);
    if (c <= ' ' || c >= 127) return i > 0 && trim(line.substr(i, colon - i), " \t").empty();
  }
  return true;
}

std::string header_name(std::string_view h) {
  return std::string(trim(h.substr(0, h.find(':')), " \t"));
}

Result<Model> read_model(int fd) {
  Model m;
  RecordReader rr(fd, "queue file", 1 << 20);
  if (auto st = rr.seek(0); !st) return std::unexpected(st.error());
  enum { kEnv, kContent, kExtr } seg = kEnv;
  std::vector<std::string> lines;
  std::string partial;
  for (;;) {
    auto r = rr.next();
    if (!r) return std::unexpected(r.error());
    if (!*r) return fail(Errc::kInvalid, "queue file without E record");
    Record rec = std::move(**r);
    if (rec.type == rec::kEnd) break;
    if (seg == kEnv) {
      if (rec.type == rec::kSize) {
        if (auto s = SizeRecord::parse(rec.data)) m.size = *s;
      } else if (rec.type == rec::kMessage) {
        seg = kContent;
      } else {
        m.envelope.push_back(std::move(rec));
      }
    } else if (seg == kContent) {
      if (rec.type == rec::kCont) {
        partial += rec.data;
      } else if (rec.type == rec::kNorm) {
        lines.push_back(partial + rec.data);
        partial.clear();
      } else if (rec.type == rec::kExtracted) {
        if (!partial.empty()) lines.push_back(std::move(partial));
        seg = kExtr;
      } else if (rec.type != rec::kPadding) {
        return fail(Errc::kInvalid, fmt::format("unexpected record '{}' in content",
                                                static_cast<char>(rec.type)));
      }
    } else {
      m.extracted.push_back(std::move(rec));
    }
  }
  size_t i = 0;
  for (; i < lines.size(); i++) {
    const std::string& l = lines[i];
    if (!l.empty() && (l[0] == ' ' || l[0] == '\t') && !m.headers.empty()) {
      m.headers.back() += "\n" + l;
    } else if (header_start(l)) {
      m.headers.push_back(l);
    } else {
      break;
    }
  }
  if (i < lines.size() && lines[i].empty()) {
    m.blank = true;
    i++;
  }
  m.body.assign(lines.begin() + static_cast<long>(i), lines.end());
  return m;
}

Status write_model(int fd, const Model& m, size_t line_limit, std::unique_ptr<QueueFileWriter>* out) {
  if (::ftruncate(fd, 0) < 0) return sys_fail("truncate queue file");
  auto w = std::make_unique<QueueFileWriter>(fd);
  w->size_record();
  long pending = 0;
  for (const auto& r : m.envelope) {
    w->record(r.type, r.data);
    if (r.type == rec::kRecipient) pending++;
  }
  w->message_start();
  for (const auto& h : m.headers)
    for (auto line : split(std::string_view(h), "\n")) w->content_line(line, line_limit);
  if (m.blank || !m.body.empty()) w->content_line("", line_limit);
  for (const auto& l : m.body) w->content_line(l, line_limit);
  w->extracted_start();
  for (const auto& r : m.extracted) {
    w->record(r.type, r.data);
    if (r.type == rec::kRecipient) pending++;
  }
  w->end();
  w->set_qmgr_flags(m.size.qmgr_flags);
  w->set_smtputf8(m.size.smtputf8);
  w->set_rcpt_count(pending);
  long length = 0;
  for (const auto& h : m.headers) length += static_cast<long>(h.size()) + 1;
  if (m.blank || !m.body.empty()) length += 1;
  for (const auto& l : m.body) length += static_cast<long>(l.size()) + 1;
  w->set_content_length(length);
  if (auto st = w->flush(); !st) return st;
  *out = std::move(w);
  return {};
}

std::string strip_brackets(std::string_view a) {
  a = trim(a);
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  return std::string(a);
}

// "Name: value" from a milter's name and value.
std::string make_header(const std::string& name, const std::string& value) {
  std::string v = value;
  // Milters send folded values with CRLF or LF line ends.
  std::string out;
  for (size_t i = 0; i < v.size(); i++) {
    if (v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n') continue;
    out += v[i];
  }
  if (out.empty() || (out[0] != ' ' && out[0] != '\t')) return name + ": " + out;
  return name + ":" + out;
}

void apply(Model& m, const milter::Modification& mod) {
  using K = milter::Modification::Kind;
  switch (mod.kind) {
    case K::kAddHeader:
      m.headers.push_back(make_header(mod.name, mod.value));
      break;
    case K::kInsertHeader: {
      size_t at = std::min<size_t>(mod.index, m.headers.size());
      m.headers.insert(m.headers.begin() + static_cast<long>(at), make_header(mod.name, mod.value));
      break;
    }
    case K::kChangeHeader: {
      uint32_t n = 0;
      uint32_t want = mod.index == 0 ? 1 : mod.index;
      for (size_t i = 0; i < m.headers.size(); i++) {
        if (!iequals(header_name(m.headers[i]), mod.name)) continue;
        if (++n != want) continue;
        if (mod.value.empty()) m.headers.erase(m.headers.begin() + static_cast<long>(i));
        else m.headers[i] = make_header(header_name(m.headers[i]), mod.value);
        return;
      }
      // No such header: an empty value deletes nothing; otherwise add it.
      if (!mod.value.empty()) m.headers.push_back(make_header(mod.name, mod.value));
      break;
    }
    case K::kReplaceBody:
      break;  // collected by the caller
    case K::kAddRcpt: {
      std::string addr = strip_brackets(mod.name);
      // After the last envelope recipient (or at the end of the envelope).
      size_t at = m.envelope.size();
      for (size_t i = 0; i < m.envelope.size(); i++)
        if (rec::is_recipient_type(m.envelope[i].type)) at = i + 1;
      // As Postfix: the address is also the original recipient.
      m.envelope.insert(m.envelope.begin() + static_cast<long>(at),
                        {Record{rec::kOrigRecipient, addr, 0}, Record{rec::kRecipient, addr, 0}});
      break;
    }
    case K::kDeleteRcpt: {
      std::string addr = strip_brackets(mod.name);
      for (auto* seg : {&m.envelope, &m.extracted}) {
        for (size_t i = 0; i < seg->size(); i++) {
          Record& r = (*seg)[i];
          if (r.type != rec::kRecipient) continue;
          bool match = iequals(r.data, addr);
          if (!match && i > 0 && (*seg)[i - 1].type == rec::kOrigRecipient)
            match = iequals((*seg)[i - 1].data, addr);
          if (match) r.type = rec::kCanceled;
        }
      }
      break;
    }
    case K::kChangeFrom: {
      std::string addr = strip_brackets(mod.name);
      for (auto& r : m.envelope)
        if (r.type == rec::kSender) r.data = addr;
      break;
    }
  }
}

// Splits replacement body data into lines (CRLF or LF).
std::vector<std::string> body_lines(std::string_view data) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < data.size(); i++) {
    char c = data[i];
    if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') continue;
    if (c == '\n') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

}  // namespace

CleanupMilters CleanupMilters::from_config(const Config& cfg) {
  CleanupMilters c;
  c.myhostname_ = cfg.get("myhostname");
  c.daemon_name_ = cfg.get("milter_macro_daemon_name");
  c.macro_v_ = cfg.get("milter_macro_v");
  std::string value = cfg.get("non_smtpd_milters");
  if (!trim(value).empty()) {
    auto list = milter::parse_milter_list(cfg, "non_smtpd_milters", value);
    if (list) c.non_smtpd_ = std::move(*list);
    else log::warn("{}", list.error().text);
  }
  return c;
}

Status CleanupMilters::receive(Stream& s, std::string_view count) {
  auto n = parse_ulong(count);
  if (!n || *n > kMaxMilters) return fail(Errc::kInvalid, "bad milter count");
  AttrList ack;
  ack.add("status", 0);
  attr_write(s, AttrEncoding::kNul, ack);
  if (auto st = s.flush(); !st) return st;
  if (s.has_buffered_input()) return fail(Errc::kInvalid, "unexpected data before descriptors");
  std::vector<UniqueFd> fds;
  for (unsigned long long i = 0; i < *n; i++) {
    auto fd = receive_fd(s.fd(), Clock::now() + s.timeout());
    if (!fd) return std::unexpected(fd.error());
    fds.push_back(std::move(*fd));
  }
  auto macros = attr_read(s, AttrEncoding::kNul);
  if (!macros) return std::unexpected(macros.error());
  macros_ = std::move(*macros);
  milters_.clear();
  for (auto& fd : fds) {
    auto st = attr_read(s, AttrEncoding::kNul);
    if (!st) return std::unexpected(st.error());
    milters_.push_back(milter::Milter::adopt(std::move(fd), *st));
  }
  received_ = true;
  return {};
}

MilterVerdict CleanupMilters::run(int fd, QueueFileWriter& writer, const std::string& id,
                                  size_t line_limit) {
  MilterVerdict v;
  if (!received_ && non_smtpd_.empty()) return v;
  if (auto st = writer.flush(); !st) {
    v.status = kCleanupStatWrite;
    v.reason = "4.3.0 queue file write error";
    return v;
  }
  auto model = read_model(fd);
  if (!model) {
    log::warn("{}: milter: read queue file: {}", id, model.error().text);
    v.status = kCleanupStatWrite;
    v.reason = "4.3.0 queue file write error";
    return v;
  }
  Model& m = *model;
  std::string client_name = m.attr("log_client_name"), client_addr = m.attr("log_client_address");
  std::string origin = client_name.empty() && client_addr.empty()
                           ? "localhost[127.0.0.1]"
                           : fmt::format("{}[{}]", client_name, client_addr);
  // Postfix names the sender and the last recipient as the client sent them.
  const std::string orig_sender = m.sender();
  const std::vector<std::string> orig_rcpts = m.recipients();
  auto log_action = [&](std::string_view action, std::string_view text) {
    std::string line = fmt::format("{}: {}: END-OF-MESSAGE from {}: {}; from=<{}>", id, action,
                                   origin, text, orig_sender);
    if (!orig_rcpts.empty()) line += fmt::format(" to=<{}>", orig_rcpts.back());
    std::string proto = m.attr("log_protocol_name");
    if (!proto.empty()) line += fmt::format(" proto={}", proto);
    std::string helo = m.attr("log_helo_name");
    if (!helo.empty()) line += fmt::format(" helo=<{}>", helo);
    log::info("{}", line);
  };

  milter::MacroFn macros = [&](std::string_view n) -> std::optional<std::string> {
    if (n == "i") return id;
    if (received_) {
      if (auto val = macros_.get(n)) return std::string(*val);
      return std::nullopt;
    }
    if (n == "j") return myhostname_;
    if (n == "{daemon_name}") return daemon_name_;
    if (n == "v") return macro_v_;
    if (n == "_") return std::string("localhost [127.0.0.1]");
    if (n == "{client_addr}") return std::string("127.0.0.1");
    if (n == "{client_name}") return std::string("localhost");
    if (n == "{mail_addr}") return m.sender();
    return std::nullopt;
  };

  bool own = !received_;
  if (own) {
    // non_smtpd_milters: this cleanup is the milters' whole session.
    for (const auto& s : non_smtpd_) milters_.push_back(milter::Milter::open(s));
  }
  bool changed = false;
  milter::Reply verdict;
  for (auto& x : milters_) {
    auto go = [](const milter::Reply& r) {
      return r.kind == milter::Reply::kContinue || r.kind == milter::Reply::kAccept;
    };
    milter::Reply r;
    if (own) {
      r = x->connect("localhost", "127.0.0.1", 0, macros);
      if (go(r)) r = x->helo("localhost", macros);
      if (go(r)) r = x->mail({"<" + m.sender() + ">"}, macros);
      for (const auto& rc : m.recipients())
        if (go(r)) r = x->rcpt({"<" + rc + ">"}, macros);
      if (go(r)) r = x->data(macros);
    }
    for (const auto& h : m.headers) {
      if (!go(r) || x->skipped()) break;
      auto colon = h.find(':');
      r = x->header(header_name(h), std::string_view(h).substr(colon + 1));
    }
    if (go(r) && !x->skipped()) r = x->eoh(macros);
    if (go(r) && !x->skipped()) {
      std::string chunk;
      auto send = [&] {
        if (!chunk.empty() && go(r) && !x->skipped()) r = x->body(chunk);
        chunk.clear();
      };
      for (const auto& l : m.body) {
        chunk += l;
        chunk += "\r\n";
        if (chunk.size() >= 65535) {
          std::string rest = chunk.substr(65535);
          chunk.resize(65535);
          send();
          chunk = std::move(rest);
        }
      }
      send();
    }
    std::vector<milter::Modification> mods;
    if (go(r) && !x->skipped()) r = x->eom(macros, &mods);
    if (own) x->quit();
    std::string new_body;
    bool body_replaced = false;
    for (const auto& mod : mods) {
      if (mod.kind == milter::Modification::kReplaceBody) {
        new_body += mod.value;
        body_replaced = true;
      } else {
        apply(m, mod);
      }
      changed = true;
    }
    if (body_replaced) {
      m.body = body_lines(new_body);
      m.blank = true;
    }
    if (!go(r)) {
      verdict = r;
      if (r.kind != milter::Reply::kQuarantine) break;
    }
  }
  if (own) milters_.clear();
  switch (verdict.kind) {
    case milter::Reply::kReject:
    case milter::Reply::kTempfail: {
      // The log shows the enhanced code and text; the client gets the whole reply.
      std::string_view text = verdict.text;
      if (text.size() > 4 && text[3] == ' ') text.remove_prefix(4);
      log_action("milter-reject", text);
      v.status = verdict.kind == milter::Reply::kReject ? kCleanupStatContent : kCleanupStatDefer;
      v.reason = verdict.text;
      return v;
    }
    case milter::Reply::kDiscard:
      log_action("milter-discard", "milter triggers DISCARD action");
      v.discard = true;
      return v;
    case milter::Reply::kQuarantine:
      log_action("milter-hold", "milter triggers HOLD action");
      v.hold = true;
      break;
    default:
      break;
  }
  if (changed) {
    if (auto st = write_model(fd, m, line_limit, &v.writer); !st) {
      log::warn("{}: milter: rewrite queue file: {}", id, st.error().text);
      v.status = kCleanupStatWrite;
      v.reason = "4.3.0 queue file write error";
    }
  }
  return v;
}

}  // namespace postern::cleanup
