#include "global/milter.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include "global/config.h"
#include "util/log.h"
#include "util/socket.h"
#include "util/strings.h"

namespace postern::milter {

namespace {

// Largest packet accepted from a milter (replacement body chunks are at
// most 64 KiB; header changes are far smaller).
constexpr size_t kMaxPacket = 1 << 20;

constexpr std::string_view kStageParams[kMacroStages] = {
    "milter_connect_macros", "milter_helo_macros",          "milter_mail_macros",
    "milter_rcpt_macros",    "milter_data_macros",          "milter_end_of_data_macros",
    "milter_end_of_header_macros"};

// "30s", "2m", "1h", "5" (seconds) -> seconds.
std::optional<int> parse_time(std::string_view v) {
  v = trim(v);
  if (v.empty()) return std::nullopt;
  int mult = 1;
  char last = v.back();
  if (!(last >= '0' && last <= '9')) {
    switch (last) {
      case 's': mult = 1; break;
      case 'm': mult = 60; break;
      case 'h': mult = 3600; break;
      case 'd': mult = 86400; break;
      case 'w': mult = 7 * 86400; break;
      default: return std::nullopt;
    }
    v.remove_suffix(1);
  }
  auto n = parse_ulong(v);
  if (!n || v.empty() || *n > 1000000) return std::nullopt;
  return static_cast<int>(*n) * mult;
}

bool valid_action(std::string_view a) {
  return a == "accept" || a == "reject" || a == "tempfail" || a == "quarantine";
}

void put32(std::string& out, uint32_t v) {
  uint32_t n = htonl(v);
  out.append(reinterpret_cast<const char*>(&n), 4);
}

uint32_t get32(std::string_view in) {
  uint32_t n;
  std::memcpy(&n, in.data(), 4);
  return ntohl(n);
}

// Splits NUL-terminated strings.
std::vector<std::string> nul_fields(std::string_view data) {
  std::vector<std::string> out;
  while (!data.empty()) {
    size_t z = data.find('\0');
    out.emplace_back(data.substr(0, z));
    if (z == std::string_view::npos) break;
    data.remove_prefix(z + 1);
  }
  return out;
}

// Numeric address for a host name ("localhost" -> "127.0.0.1").
std::optional<std::string> resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  const void* a = res->ai_family == AF_INET6
                      ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr)
                      : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr);
  inet_ntop(res->ai_family, a, buf, sizeof buf);
  freeaddrinfo(res);
  return std::string(buf);
}

Result<UniqueFd> connect_milter(const std::string& spec, int timeout) {
  Deadline dl = Clock::now() + std::chrono::seconds(timeout);
  if (spec.starts_with("unix:")) return connect_unix(spec.substr(5), dl);
  if (spec.starts_with("inet:")) {
    std::string rest = spec.substr(5);
    std::string host, port;
    if (auto at = rest.find('@'); at != std::string::npos) {  // inet:port@host
      port = rest.substr(0, at);
      host = rest.substr(at + 1);
    } else if (rest.starts_with("[")) {
      auto close = rest.find(']');
      if (close == std::string::npos || rest.size() < close + 2 || rest[close + 1] != ':')
        return postern::fail(Errc::kInvalid, "bad address");
      host = rest.substr(1, close - 1);
      port = rest.substr(close + 2);
    } else {
      auto colon = rest.rfind(':');
      if (colon == std::string::npos) return postern::fail(Errc::kInvalid, "missing port");
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    auto p = parse_ulong(port);
    if (!p || *p == 0 || *p > 65535) return postern::fail(Errc::kInvalid, "bad port " + port);
    auto addr = resolve(host.empty() ? "localhost" : host);
    if (!addr) return postern::fail(Errc::kTemporary, "host not found: " + host);
    return connect_inet(*addr, static_cast<int>(*p), dl);
  }
  return postern::fail(Errc::kInvalid, "unsupported milter socket type");
}

}  // namespace

std::string reject_text() { return "550 5.7.1 Command rejected"; }
std::string tempfail_text() { return "451 4.7.1 Service unavailable - try again later"; }

Result<std::vector<Settings>> parse_milter_list(const Config& cfg, std::string_view param,
                                                std::string_view value) {
  Settings def;
  auto t = [&](std::string_view p, int fallback) {
    auto v = parse_time(cfg.get(p));
    return v ? *v : fallback;
  };
  def.connect_timeout = t("milter_connect_timeout", 30);
  def.command_timeout = t("milter_command_timeout", 30);
  def.content_timeout = t("milter_content_timeout", 300);
  def.default_action = lowercase(trim(cfg.get("milter_default_action")));
  if (!valid_action(def.default_action))
    return postern::fail(Errc::kInvalid, fmt::format("bad parameter value: milter_default_action = {}",
                                            def.default_action));
  auto proto = parse_ulong(trim(cfg.get("milter_protocol")));
  def.protocol = proto ? static_cast<int>(*proto) : 6;
  for (int i = 0; i < kMacroStages; i++) def.macros[i] = cfg.get(kStageParams[i]);

  std::vector<Settings> out;
  size_t i = 0;
  auto sep = [](char c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (i < value.size()) {
    if (sep(value[i])) {
      i++;
      continue;
    }
    Settings s = def;
    if (value[i] == '{') {
      size_t close = value.find('}', i);
      if (close == std::string_view::npos)
        return postern::fail(Errc::kInvalid, fmt::format("{}: missing '}}' in \"{}\"", param, value));
      std::string_view inner = value.substr(i + 1, close - i - 1);
      i = close + 1;
      bool first = true;
      for (auto raw : split(inner, ",")) {
        std::string_view item = trim(raw);
        if (item.empty()) continue;
        if (first) {
          s.name = std::string(item);
          first = false;
          continue;
        }
        auto eq = item.find('=');
        if (eq == std::string_view::npos)
          return postern::fail(Errc::kInvalid, fmt::format("{}: missing '=' in \"{}\"", param, item));
        std::string k(trim(item.substr(0, eq)));
        std::string v(trim(item.substr(eq + 1)));
        if (k == "connect_timeout" || k == "command_timeout" || k == "content_timeout") {
          auto n = parse_time(v);
          if (!n) return postern::fail(Errc::kInvalid, fmt::format("{}: bad {} value: {}", param, k, v));
          (k == "connect_timeout" ? s.connect_timeout
                                  : k == "command_timeout" ? s.command_timeout
                                                           : s.content_timeout) = *n;
        } else if (k == "default_action") {
          if (!valid_action(v))
            return postern::fail(Errc::kInvalid, fmt::format("{}: bad default_action value: {}", param, v));
          s.default_action = v;
        } else if (k == "protocol") {
          auto n = parse_ulong(v);
          if (!n || *n < 2 || *n > 6)
            return postern::fail(Errc::kInvalid, fmt::format("{}: bad protocol value: {}", param, v));
          s.protocol = static_cast<int>(*n);
        } else {
          return postern::fail(Errc::kInvalid, fmt::format("{}: unknown milter attribute: {}", param, k));
        }
      }
      if (s.name.empty()) return postern::fail(Errc::kInvalid, fmt::format("{}: empty milter entry", param));
    } else {
      size_t j = i;
      while (j < value.size() && !sep(value[j])) j++;
      s.name = std::string(value.substr(i, j - i));
      i = j;
    }
    out.push_back(std::move(s));
  }
  return out;
}

// --- Milter ---------------------------------------------------------------

std::unique_ptr<Milter> Milter::open(const Settings& s) {
  std::unique_ptr<Milter> m(new Milter(s));
  auto fd = connect_milter(s.name, s.connect_timeout);
  if (!fd) {
    // Postfix's wording: "connect to Milter service inet:h:p: Connection refused".
    std::string_view why = fd.error().text;
    if (auto colon = why.rfind(": "); colon != std::string_view::npos) why.remove_prefix(colon + 2);
    log::warn("connect to Milter service {}: {}", s.name, why);
    m->state_ = State::kError;
    return m;
  }
  m->stream_ = std::make_unique<Stream>(Stream::from_fd(std::move(*fd)));
  m->state_ = State::kReady;
  if (auto st = m->negotiate(); !st) {
    log::warn("milter {}: {}", s.name, st.error().text);
    m->state_ = State::kError;
    m->stream_.reset();
  }
  return m;
}

int Milter::fd() const { return stream_ ? stream_->fd() : -1; }

Status Milter::send(char cmd, std::string_view data, int timeout) {
  if (!stream_) return postern::fail(Errc::kIo, "not connected");
  std::string pkt;
  put32(pkt, static_cast<uint32_t>(data.size() + 1));
  pkt += cmd;
  pkt += data;
  stream_->set_timeout(std::chrono::seconds(timeout));
  return stream_->write_flush(pkt);
}

Result<std::pair<char, std::string>> Milter::receive(int timeout) {
  if (!stream_) return postern::fail(Errc::kIo, "not connected");
  stream_->set_timeout(std::chrono::seconds(timeout));
  auto hdr = stream_->read_exact(4);
  if (!hdr) return std::unexpected(hdr.error());
  uint32_t len = get32(*hdr);
  if (len == 0 || len > kMaxPacket)
    return postern::fail(Errc::kInvalid, fmt::format("bad packet length: {}", len));
  auto body = stream_->read_exact(len);
  if (!body) return std::unexpected(body.error());
  char cmd = (*body)[0];
  return std::make_pair(cmd, body->substr(1));
}

Status Milter::negotiate() {
  std::string data;
  put32(data, static_cast<uint32_t>(s_.protocol));
  put32(data, kAllActions);
  put32(data, kAllProtocolFlags);
  if (auto st = send('O', data, s_.command_timeout); !st) return st;
  auto r = receive(s_.command_timeout);
  if (!r) return postern::fail(r.error().code, "read negotiation reply: " + r.error().text);
  if (r->first != 'O' || r->second.size() < 12)
    return postern::fail(Errc::kInvalid, fmt::format("bad negotiation reply: command '{}'", r->first));
  version_ = get32(r->second);
  actions_ = get32(std::string_view(r->second).substr(4)) & kAllActions;
  pflags_ = get32(std::string_view(r->second).substr(8)) & kAllProtocolFlags;
  if (version_ < 2 || version_ > 6)
    return postern::fail(Errc::kInvalid, fmt::format("unsupported protocol version {}", version_));
  std::string_view rest = std::string_view(r->second).substr(12);
  while (rest.size() >= 4) {
    uint32_t stage = get32(rest);
    rest.remove_prefix(4);
    size_t z = rest.find('\0');
    std::string list(rest.substr(0, z));
    rest.remove_prefix(z == std::string_view::npos ? rest.size() : z + 1);
    if (stage < kMacroStages) wanted_[stage] = list;
  }
  return {};
}

Reply Milter::default_reply() const {
  if (s_.default_action == "accept") return {Reply::kContinue, ""};
  if (s_.default_action == "reject") return {Reply::kReject, reject_text()};
  if (s_.default_action == "quarantine")
    return {Reply::kQuarantine, "milter triggers HOLD action"};
  return {Reply::kTempfail, tempfail_text()};
}

Reply Milter::fail(std::string_view why) {
  log::warn("milter {}: {}", s_.name, why);
  state_ = State::kError;
  stream_.reset();
  return default_reply();
}

Status Milter::send_macros(char cmd, MacroStage stage, const MacroFn& m) {
  if (!m) return {};
  const std::string& list = wanted_[stage] ? *wanted_[stage] : s_.macros[stage];
  std::string data(1, cmd);
  bool any = false;
  for (auto name : split(list, " \t,")) {
    if (name.empty()) continue;
    auto v = m(name);
    if (!v) continue;
    data += name;
    data += '\0';
    data += *v;
    data += '\0';
    any = true;
  }
  if (!any) return {};
  return send('D', data, s_.command_timeout);
}

Reply Milter::event(char cmd, std::string_view data, bool no_reply, int timeout,
                    std::vector<Modification>* mods) {
  if (auto st = send(cmd, data, timeout); !st)
    return fail(fmt::format("write error: {}", st.error().text));
  if (no_reply) return {};
  for (int guard = 0; guard < 100000; guard++) {
    auto r = receive(timeout);
    if (!r) {
      if (r.error().code == Errc::kTimeout) return fail("read timeout");
      if (r.error().code == Errc::kEof) return fail("unexpected EOF");
      return fail(r.error().text);
    }
    auto& [c, d] = *r;
    auto fields = [&] { return nul_fields(d); };
    switch (c) {
      case 'c': return {Reply::kContinue, ""};
      case 'a':
        state_ = (cmd == 'C' || cmd == 'H') ? State::kAcceptedSession : State::kAcceptedMessage;
        return {Reply::kAccept, ""};
      case 'r': return {Reply::kReject, reject_text()};
      case 't': return {Reply::kTempfail, tempfail_text()};
      case 'd': return {Reply::kDiscard, ""};
      case 's': return {Reply::kContinue, ""};  // skip the rest of the body
      case 'y': {
        std::string text = fields().empty() ? "" : fields()[0];
        // "550 5.7.1 text"; multi-line replies arrive with CRLF between lines.
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        if (text.size() < 3 || (text[0] != '4' && text[0] != '5'))
          return fail(fmt::format("malformed reply code: {}", text));
        for (auto& ch : text)
          if (ch == '\r' || ch == '\n') ch = ' ';
        return {text[0] == '4' ? Reply::kTempfail : Reply::kReject, text};
      }
      case 'p': continue;  // progress: keep waiting
      case '4': return fail("milter requested shutdown");
      case 'f': return fail("milter reported connection failure");
      case 'q':
      case 'h': case 'i': case 'm': case 'b': case '+': case '-': case '2': case 'e': {
        if (cmd != 'E' || !mods) return fail(fmt::format("unexpected reply '{}'", c));
        auto f = fields();
        Modification mod{};
        switch (c) {
          case 'q': {
            if (!(actions_ & 0x20)) return fail("quarantine not negotiated");
            // Quarantine still waits for the final reply; remember it.
            mods->push_back({Modification::kChangeFrom, 0xffffffff, "", f.empty() ? "" : f[0]});
            continue;
          }
          case 'h':
            if (f.size() < 2) return fail("malformed add-header");
            mod = {Modification::kAddHeader, 0, f[0], f[1]};
            break;
          case 'i':
          case 'm': {
            if (d.size() < 4) return fail("malformed header change");
            auto g = nul_fields(std::string_view(d).substr(4));
            if (g.size() < 2) g.resize(2);
            mod = {c == 'i' ? Modification::kInsertHeader : Modification::kChangeHeader,
                   get32(d), g[0], g[1]};
            break;
          }
          case 'b': mod = {Modification::kReplaceBody, 0, "", d}; break;
          case '+': case '2':
            if (f.empty()) return fail("malformed add-recipient");
            mod = {Modification::kAddRcpt, 0, f[0], f.size() > 1 ? f[1] : ""};
            break;
          case '-':
            if (f.empty()) return fail("malformed delete-recipient");
            mod = {Modification::kDeleteRcpt, 0, f[0], ""};
            break;
          case 'e':
            if (f.empty()) return fail("malformed change-sender");
            mod = {Modification::kChangeFrom, 0, f[0], f.size() > 1 ? f[1] : ""};
            break;
        }
        mods->push_back(std::move(mod));
        continue;
      }
      default:
        return fail(fmt::format("unexpected reply '{}'", c));
    }
  }
  return fail("too many replies");
}

Reply Milter::connect(std::string_view host, std::string_view addr, int port, const MacroFn& m) {
  if (state_ != State::kReady) return state_ == State::kError ? default_reply() : Reply{};
  if (auto st = send_macros('C', kMacroConnect, m); !st) return fail(st.error().text);
  if (pflags_ & kNoConnect) return {};
  std::string data(host);
  data += '\0';
  if (addr.empty()) {
    data += 'U';  // unknown: no port, no address
  } else {
    data += addr.find(':') != std::string_view::npos ? '6' : '4';
    uint16_t p = htons(static_cast<uint16_t>(port));
    data.append(reinterpret_cast<const char*>(&p), 2);
    data += addr;
    data += '\0';
  }
  return event('C', data, pflags_ & kNrConnect, s_.command_timeout);
}

Reply Milter::helo(std::string_view name, const MacroFn& m) {
  if (state_ != State::kReady) return state_ == State::kError ? default_reply() : Reply{};
  if (auto st = send_macros('H', kMacroHelo, m); !st) return fail(st.error().text);
  if (pflags_ & kNoHelo) return {};
  std::string data(name);
  data += '\0';
  return event('H', data, pflags_ & kNrHelo, s_.command_timeout);
}

static std::string join_args(const std::vector<std::string>& args) {
  std::string data;
  for (const auto& a : args) {
    data += a;
    data += '\0';
  }
  return data;
}

Reply Milter::mail(const std::vector<std::string>& args, const MacroFn& m) {
  if (state_ != State::kReady) return state_ == State::kError ? default_reply() : Reply{};
  if (auto st = send_macros('M', kMacroMail, m); !st) return fail(st.error().text);
  if (pflags_ & kNoMail) return {};
  return event('M', join_args(args), pflags_ & kNrMail, s_.command_timeout);
}

Reply Milter::rcpt(const std::vector<std::string>& args, const MacroFn& m) {
  if (state_ != State::kReady) return state_ == State::kError ? default_reply() : Reply{};
  if (auto st = send_macros('R', kMacroRcpt, m); !st) return fail(st.error().text);
  if (pflags_ & kNoRcpt) return {};
  return event('R', join_args(args), pflags_ & kNrRcpt, s_.command_timeout);
}

Reply Milter::data(const MacroFn& m) {
  if (state_ != State::kReady) return state_ == State::kError ? default_reply() : Reply{};
  if (version_ < 4) return {};
  if (auto st = send_macros('T', kMacroData, m); !st) return fail(st.error().text);
  if (pflags_ & kNoData) return {};
  return event('T', "", pflags_ & kNrData, s_.command_timeout);
}

Reply Milter::header(std::string_view name, std::string_view value) {
  if (state_ != State::kReady) return state_ == State::kError ? default_reply() : Reply{};
  if (pflags_ & kNoHeaders) return {};
  if (!(pflags_ & kHeaderLeadingSpace) && !value.empty() && value[0] == ' ')
    value.remove_prefix(1);
  std::string data(name);
  data += '\0';
  data += value;
  data += '\0';
  return event('L', data, pflags_ & kNrHeader, s_.content_timeout);
}

Reply Milter::eoh(const MacroFn& m) {
  if (state_ != State::kReady) return state_ == State::kError ? default_reply() : Reply{};
  if (auto st = send_macros('N', kMacroEoh, m); !st) return fail(st.error().text);
  if (pflags_ & kNoEoh) return {};
  return event('N', "", pflags_ & kNrEoh, s_.content_timeout);
}

Reply Milter::body(std::string_view chunk) {
  if (state_ != State::kReady) return state_ == State::kError ? default_reply() : Reply{};
  if (pflags_ & kNoBody) return {};
  return event('B', chunk, pflags_ & kNrBody, s_.content_timeout);
}

Reply Milter::eom(const MacroFn& m, std::vector<Modification>* mods) {
  if (state_ != State::kReady) return state_ == State::kError ? default_reply() : Reply{};
  if (auto st = send_macros('E', kMacroEom, m); !st) return fail(st.error().text);
  std::vector<Modification> mine;
  Reply r = event('E', "", false, s_.content_timeout, &mine);
  if (state_ == State::kError) return r;
  // A quarantine request (recorded with the marker index) turns the reply
  // into a hold unless the message is rejected or discarded anyway.
  std::string hold_reason;
  bool hold = false;
  for (auto& mod : mine) {
    if (mod.kind == Modification::kChangeFrom && mod.index == 0xffffffff) {
      hold = true;
      hold_reason = mod.value;
      continue;
    }
    uint32_t need = 0;
    switch (mod.kind) {
      case Modification::kAddHeader: need = 0x01; break;
      case Modification::kInsertHeader: need = 0x01; break;
      case Modification::kChangeHeader: need = 0x10; break;
      case Modification::kReplaceBody: need = 0x02; break;
      case Modification::kAddRcpt: need = mod.value.empty() ? 0x04 | 0x80 : 0x80; break;
      case Modification::kDeleteRcpt: need = 0x08; break;
      case Modification::kChangeFrom: need = 0x40; break;
    }
    if (!(actions_ & need)) {
      log::warn("milter {}: modification not negotiated: ignored", s_.name);
      continue;
    }
    if (r.kind == Reply::kContinue || r.kind == Reply::kAccept) mods->push_back(std::move(mod));
  }
  if (hold && (r.kind == Reply::kContinue || r.kind == Reply::kAccept))
    return {Reply::kQuarantine, hold_reason};
  return r;
}

void Milter::abort() {
  if (state_ == State::kError || state_ == State::kAcceptedSession) return;
  if (auto st = send('A', "", s_.command_timeout); !st) fail(st.error().text);
  else state_ = State::kReady;
}

void Milter::next_message() {
  if (state_ == State::kAcceptedMessage) state_ = State::kReady;
}

void Milter::quit() {
  if (stream_) (void)send('Q', "", s_.command_timeout);
  stream_.reset();
  state_ = State::kError;
}

AttrList Milter::export_state() const {
  AttrList a;
  a.add("name", s_.name);
  a.add("version", static_cast<long long>(version_));
  a.add("actions", static_cast<long long>(actions_));
  a.add("pflags", static_cast<long long>(pflags_));
  a.add("command_timeout", s_.command_timeout);
  a.add("content_timeout", s_.content_timeout);
  a.add("default_action", s_.default_action);
  a.add("state", state_ == State::kReady ? "ready" : state_ == State::kError ? "error" : "accept");
  for (int i = 0; i < kMacroStages; i++)
    a.add(fmt::format("macros{}", i), wanted_[i] ? *wanted_[i] : s_.macros[i]);
  return a;
}

std::unique_ptr<Milter> Milter::adopt(UniqueFd fd, const AttrList& a) {
  Settings s;
  s.name = std::string(a.str("name"));
  s.command_timeout = static_cast<int>(a.number_or("command_timeout", 30));
  s.content_timeout = static_cast<int>(a.number_or("content_timeout", 300));
  s.default_action = std::string(a.str("default_action"));
  if (!valid_action(s.default_action)) s.default_action = "tempfail";
  std::unique_ptr<Milter> m(new Milter(s));
  m->version_ = static_cast<uint32_t>(a.number_or("version", 6));
  m->actions_ = static_cast<uint32_t>(a.number_or("actions", 0));
  m->pflags_ = static_cast<uint32_t>(a.number_or("pflags", 0));
  for (int i = 0; i < kMacroStages; i++)
    m->wanted_[i] = std::string(a.str(fmt::format("macros{}", i)));
  std::string_view st = a.str("state");
  if (st == "ready" && fd.get() >= 0) {
    m->stream_ = std::make_unique<Stream>(Stream::from_fd(std::move(fd)));
    m->state_ = State::kReady;
  } else {
    m->state_ = st == "error" ? State::kError : State::kAcceptedMessage;
  }
  return m;
}

// --- MilterList ------------------------------------------------------------

MilterList MilterList::open(const std::vector<Settings>& list) {
  std::vector<std::unique_ptr<Milter>> v;
  for (const auto& s : list) v.push_back(Milter::open(s));
  return MilterList(std::move(v));
}

template <class F>
Reply MilterList::each(F f) {
  for (auto& m : milters_) {
    Reply r = f(*m);
    if (r.kind == Reply::kContinue || r.kind == Reply::kAccept) continue;
    return r;
  }
  return {};
}

Reply MilterList::connect(std::string_view host, std::string_view addr, int port,
                          const MacroFn& m) {
  return each([&](Milter& x) { return x.connect(host, addr, port, m); });
}
Reply MilterList::helo(std::string_view name, const MacroFn& m) {
  return each([&](Milter& x) { return x.helo(name, m); });
}
Reply MilterList::mail(const std::vector<std::string>& args, const MacroFn& m) {
  return each([&](Milter& x) { return x.mail(args, m); });
}
Reply MilterList::rcpt(const std::vector<std::string>& args, const MacroFn& m) {
  return each([&](Milter& x) { return x.rcpt(args, m); });
}
Reply MilterList::data(const MacroFn& m) {
  return each([&](Milter& x) { return x.data(m); });
}
void MilterList::abort() {
  for (auto& m : milters_) m->abort();
}
void MilterList::quit() {
  for (auto& m : milters_) m->quit();
}
void MilterList::next_message() {
  for (auto& m : milters_) m->next_message();
}

}  // namespace postern::milter
