#include "smtpd/smtpd_proxy.h"

#include <netdb.h>

#include <charconv>
#include <map>
#include <set>

#include <fmt/format.h>

#include "global/config.h"
#include "global/rec_type.h"
#include "util/inet.h"
#include "util/log.h"
#include "util/socket.h"
#include "util/strings.h"

namespace postern::smtpd {

namespace {

constexpr std::string_view kWriteError = "451 4.3.0 Error: queue file write error";
constexpr size_t kReplyLineLimit = 4096;
constexpr int kReplyLinesLimit = 100;

std::string xtext(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 33 || c > 126 || c == '+' || c == '=')
      out += fmt::format("+{:02X}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

// XFORWARD SOURCE=LOCAL as Postfix decides it: the client is one that
// local_header_rewrite_clients names through permit_inet_interfaces
// (its default); other forms of that list count as remote here.
bool client_is_local(const Config& cfg, std::string_view addr) {
  auto ip = IpAddress::parse(addr);
  if (!ip) return false;
  bool inet = false;
  for (auto w : split(cfg.get("local_header_rewrite_clients"), " \t,"))
    if (iequals(w, "permit_inet_interfaces")) inet = true;
  if (!inet) return false;
  for (auto w : split(cfg.get("inet_interfaces"), " \t,")) {
    if (w.empty()) continue;
    if (iequals(w, "all")) {
      if (ip->is_loopback()) return true;
      for (const auto& a : local_interface_addresses())
        if (a.address == *ip) return true;
      return false;
    }
    if (iequals(w, "loopback-only") || iequals(w, "localhost")) {
      if (ip->is_loopback()) return true;
      continue;
    }
    auto mine = IpAddress::parse(w);
    if (mine && *mine == *ip) return true;
  }
  return false;
}

class ProxySink final : public MessageSink {
 public:
  ProxySink(const Config& cfg, ProxyEndpoint ep)
      : ep_(std::move(ep)),
        spec_(cfg.get("smtpd_proxy_filter")),
        ehlo_(cfg.get("smtpd_proxy_ehlo")),
        timeout_(std::chrono::seconds(std::max(1LL, cfg.get_time("smtpd_proxy_timeout")))),
        cfg_(cfg) {
    for (auto w : split(cfg.get("smtpd_proxy_options"), " \t,"))
      if (iequals(w, "speed_adjust")) speed_adjust_ = true;
  }

  // An abandoned transaction (RSET, a new MAIL, the client gone) ends
  // with QUIT, as Postfix's does.
  ~ProxySink() override { close(); }

  // Connects, reads the banner, says EHLO (unless speed_adjust defers it).
  Status open() {
    if (speed_adjust_) return {};
    return connect();
  }

  const std::string& queue_id() const override { return noqueue_; }

  Status record(int type, std::string_view data) override {
    if (speed_adjust_ && !replaying_) {
      buffered_.emplace_back(type, std::string(data));
      return {};
    }
    return relay(type, data);
  }

  Result<CleanupOutcome> finish() override {
    if (speed_adjust_) {
      replaying_ = true;
      if (auto s = connect(); !s) return done_with_error();
      for (const auto& [type, data] : buffered_)
        if (!relay(type, data)) return done_with_error();
      buffered_.clear();
    }
    if (state_ != State::kData) return done_with_error();
    if (partial_) {
      stream_->write("\r\n");
      partial_ = false;
    }
    auto r = command(".");
    if (!r) return done_with_error();
    state_ = State::kDone;
    CleanupOutcome out;
    out.status = last_[0] == '2' ? 0 : kCleanupStatProxy;
    out.reason = last_;
    close();
    return out;
  }

  const std::string& last_reply() const { return last_; }

 private:
  enum class State { kNew, kMail, kRcpt, kData, kDone, kBroken };

  Result<CleanupOutcome> done_with_error() {
    if (last_.empty() || last_[0] == '2' || last_[0] == '3') last_ = std::string(kWriteError);
    close();
    CleanupOutcome out;
    out.status = kCleanupStatProxy;
    out.reason = last_;
    return out;
  }

  void close() {
    if (stream_) {
      (void)stream_->write_flush("QUIT\r\n");
      stream_.reset();
    }
  }

  // The filter refused a command: Postfix's warning; the reply goes back.
  Status rejected(std::string_view cmd) {
    log::warn("proxy {} rejected \"{}\": \"{}\"", spec_, printable(cmd), printable(last_));
    return fail(Errc::kPermanent, last_);
  }

  Status broken(std::string why) {
    log::warn("{}", why);
    state_ = State::kBroken;
    last_ = std::string(kWriteError);
    stream_.reset();
    return fail(Errc::kTemporary, why);
  }

  // Reads one (multi-line) reply into last_.
  Status read_reply() {
    std::string text;
    for (int n = 0; n < kReplyLinesLimit; ++n) {
      auto line = stream_->read_line(kReplyLineLimit);
      if (!line) return broken(fmt::format("proxy filter {}: {}", spec_, line.error().text));
      std::string l = std::move(*line);
      if (!l.empty() && l.back() == '\n') l.pop_back();
      if (!l.empty() && l.back() == '\r') l.pop_back();
      if (l.size() < 3 || !std::isdigit(static_cast<unsigned char>(l[0])) ||
          !std::isdigit(static_cast<unsigned char>(l[1])) ||
          !std::isdigit(static_cast<unsigned char>(l[2])) || (l.size() > 3 && l[3] != ' ' && l[3] != '-'))
        return broken(fmt::format("proxy filter {}: malformed reply: {}", spec_, printable(l)));
      if (!text.empty()) text += "\r\n";
      text += l;
      if (l.size() == 3 || l[3] == ' ') {
        last_ = std::move(text);
        return {};
      }
    }
    return broken(fmt::format("proxy filter {}: reply too long", spec_));
  }

  // Sends one command and reads its reply (the caller checks the code).
  Status command(std::string_view cmd) {
    if (!stream_) return broken(fmt::format("proxy filter {}: not connected", spec_));
    stream_->write(cmd);
    stream_->write("\r\n");
    if (auto s = stream_->flush(); !s)
      return broken(fmt::format("proxy filter {}: {}", spec_, s.error().text));
    return read_reply();
  }

  Status connect() {
    auto deadline = Clock::now() + timeout_;
    auto fd = ep_.unix_socket ? connect_unix(ep_.host, deadline) : connect_inet(ep_.host, ep_.port, deadline);
    if (!fd) return broken(fmt::format("connect to proxy filter {}: {}", spec_, fd.error().text));
    stream_ = std::make_unique<Stream>(Stream::from_fd(std::move(*fd)));
    stream_->set_timeout(timeout_);
    if (auto s = read_reply(); !s) return s;
    if (last_[0] != '2') {
      std::string why = fmt::format("proxy filter {}: bad greeting: {}", spec_, last_);
      return broken(why);
    }
    if (auto s = command("EHLO " + ehlo_); !s) return s;
    if (last_[0] != '2') return broken(fmt::format("proxy filter {}: EHLO: {}", spec_, last_));
    // "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE": what it takes.
    for (auto line : split(last_, "\r\n")) {
      if (line.size() <= 4 || !istarts_with(line.substr(4), "XFORWARD")) continue;
      for (auto w : split(line.substr(4), " "))
        if (!w.empty() && !iequals(w, "XFORWARD")) xforward_.insert(uppercase(w));
    }
    return {};
  }

  // Sends the MAIL FROM (after XFORWARD) once the envelope is known.
  Status start_mail() {
    if (!xforward_.empty()) {
      // One line, in Postfix's order, with what the filter announced.
      auto v = [&](std::string_view name) {
        auto it = attrs_.find(std::string(name));
        std::string s = it == attrs_.end() || it->second.empty() ? "[UNAVAILABLE]" : it->second;
        if (name == "log_client_name" && s == "unknown") s = "[UNAVAILABLE]";
        return xtext(s);
      };
      std::string line = "XFORWARD";
      auto add = [&](std::string_view key, std::string value) {
        if (xforward_.count(std::string(key))) line += fmt::format(" {}={}", key, value);
      };
      add("NAME", v("log_client_name"));
      add("ADDR", v("log_client_address"));
      add("PORT", v("log_client_port"));
      add("HELO", v("log_helo_name"));
      add("IDENT", v("log_ident"));
      add("PROTO", v("log_protocol_name"));
      add("SOURCE", client_is_local(cfg_, attrs_["client_address"]) ? "LOCAL" : "REMOTE");
      if (auto s = command(line); !s) return s;
      if (last_[0] != '2') return broken(fmt::format("proxy filter {}: XFORWARD: {}", spec_, last_));
    }
    std::string cmd = "MAIL FROM:<" + sender_ + ">";
    if (attrs_["encoding"] == "8bit") cmd += " BODY=8BITMIME";
    else if (attrs_["encoding"] == "7bit") cmd += " BODY=7BIT";
    if (!ret_.empty()) cmd += ret_ == "1" ? " RET=FULL" : " RET=HDRS";
    if (!envid_.empty()) cmd += " ENVID=" + xtext(envid_);
    if (auto s = command(cmd); !s) return s;
    if (last_[0] != '2') {
      mail_rejected_ = last_;
      return rejected(cmd);
    }
    state_ = State::kRcpt;
    return {};
  }

  Status relay(int type, std::string_view data) {
    if (state_ == State::kBroken) return fail(Errc::kTemporary, last_);
    switch (type) {
      case rec::kAttr: {
        auto eq = data.find('=');
        if (eq != std::string_view::npos)
          attrs_[std::string(data.substr(0, eq))] = std::string(data.substr(eq + 1));
        return {};
      }
      case rec::kSender: sender_ = data; state_ = State::kMail; return {};
      case rec::kDsnEnvid: envid_ = data; return {};
      case rec::kDsnRet: ret_ = data; return {};
      case rec::kDsnOrcpt: orcpt_ = data; return {};
      case rec::kDsnNotify: notify_ = data; return {};
      case rec::kRecipient: {
        if (state_ == State::kMail) {
          if (auto s = start_mail(); !s) return s;
        } else if (!mail_rejected_.empty()) {
          last_ = mail_rejected_;
          return fail(Errc::kPermanent, last_);
        }
        std::string cmd = "RCPT TO:<" + std::string(data) + ">";
        if (!notify_.empty()) cmd += " NOTIFY=" + notify_text(std::atoi(notify_.c_str()));
        if (!orcpt_.empty()) {
          auto semi = orcpt_.find(';');
          if (semi != std::string::npos)
            cmd += " ORCPT=" + orcpt_.substr(0, semi) + ";" + xtext(orcpt_.substr(semi + 1));
        }
        orcpt_.clear();
        notify_.clear();
        if (auto s = command(cmd); !s) return s;
        if (last_[0] != '2') return rejected(cmd);
        accepted_++;
        return {};
      }
      case rec::kMessage: {
        if (state_ != State::kRcpt || accepted_ == 0) {
          if (last_.empty() || last_[0] == '2') last_ = std::string(kWriteError);
          return fail(Errc::kTemporary, last_);
        }
        if (auto s = command("DATA"); !s) return s;
        if (last_[0] != '3') return rejected("DATA");
        state_ = State::kData;
        return {};
      }
      case rec::kNorm:
      case rec::kCont: {
        if (state_ != State::kData) return {};  // envelope records smtpd's cleanup would take
        if (!partial_ && !data.empty() && data[0] == '.') stream_->write(".");
        stream_->write(data);
        partial_ = type == rec::kCont;
        if (!partial_) stream_->write("\r\n");
        if (stream_->buffered_output() > 65536) {
          if (auto s = stream_->flush(); !s)
            return broken(fmt::format("proxy filter {}: {}", spec_, s.error().text));
        }
        return {};
      }
      default: return {};  // time, flags, filter, extracted: cleanup's business
    }
  }

  static std::string notify_text(int bits) {
    if (bits & 1) return "NEVER";  // kDsnNotifyNever
    std::string out;
    auto add = [&](int bit, const char* name) {
      if (bits & bit) out += (out.empty() ? "" : ",") + std::string(name);
    };
    add(2, "SUCCESS");
    add(4, "DELAY");
    add(8, "FAILURE");
    return out.empty() ? "NEVER" : out;
  }

  ProxyEndpoint ep_;
  std::string spec_, ehlo_;
  std::chrono::seconds timeout_;
  const Config& cfg_;
  bool speed_adjust_ = false;
  bool replaying_ = false;
  std::vector<std::pair<int, std::string>> buffered_;
  std::unique_ptr<Stream> stream_;
  State state_ = State::kNew;
  std::set<std::string> xforward_;  // the attributes it takes
  bool partial_ = false;
  int accepted_ = 0;
  std::map<std::string, std::string> attrs_;
  std::string sender_, envid_, ret_, orcpt_, notify_;
  std::string mail_rejected_;
  std::string last_;
  std::string noqueue_ = "NOQUEUE";
};

}  // namespace

bool proxy_enabled(const Config& cfg) { return !trim(cfg.get("smtpd_proxy_filter")).empty(); }

Result<ProxyEndpoint> parse_proxy_endpoint(std::string_view spec) {
  ProxyEndpoint ep;
  spec = trim(spec);
  if (istarts_with(spec, "unix:")) {
    ep.unix_socket = true;
    ep.host = std::string(spec.substr(5));
    if (ep.host.empty()) return fail(Errc::kInvalid, "smtpd_proxy_filter: empty socket path");
    return ep;
  }
  if (istarts_with(spec, "inet:")) spec.remove_prefix(5);
  auto colon = spec.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == spec.size())
    return fail(Errc::kInvalid, fmt::format("smtpd_proxy_filter: bad endpoint \"{}\"; need host:port", spec));
  std::string host(spec.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string_view port = spec.substr(colon + 1);
  int p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size()) {
    struct servent* se = ::getservbyname(std::string(port).c_str(), "tcp");
    if (!se) return fail(Errc::kInvalid, fmt::format("smtpd_proxy_filter: unknown service \"{}\"", port));
    p = ntohs(static_cast<uint16_t>(se->s_port));
  }
  if (p <= 0 || p > 65535) return fail(Errc::kInvalid, fmt::format("smtpd_proxy_filter: bad port \"{}\"", port));
  ep.host = host;
  ep.port = p;
  return ep;
}

SinkOpener proxy_opener(const Config& cfg) {
  return [&cfg](int) -> Result<std::unique_ptr<MessageSink>> {
    auto ep = parse_proxy_endpoint(cfg.get("smtpd_proxy_filter"));
    if (!ep) {
      log::warn("{}", ep.error().text);
      return std::unexpected(ep.error());
    }
    auto sink = std::make_unique<ProxySink>(cfg, std::move(*ep));
    if (auto s = sink->open(); !s) return std::unexpected(s.error());
    return sink;
  };
}

std::optional<std::string> proxy_reply(const MessageSink* sink) {
  auto* p = dynamic_cast<const ProxySink*>(sink);
  if (!p) return std::nullopt;
  return p->last_reply();
}

}  // namespace postern::smtpd
