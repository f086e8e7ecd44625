#include "smtp/client.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "global/config.h"
#include "global/dsn.h"
#include "global/mail_address.h"
#include "maps/address_lookup.h"
#include "sasl/sasl_client.h"
#include "smtp/connect.h"
#include "smtp/content.h"
#include "smtp/ehlo.h"
#include "smtp/nexthop.h"
#include "smtp/reply.h"
#include "smtp/servers.h"
#include "tls/tls.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::smtp {

namespace {

using std::chrono::seconds;

struct Failure {
  std::string dsn;
  std::string reason;
  std::string dtext;  // the remote reply, when there is one
  std::string relay;  // relay= of the log line
};

class Delivery {
 public:
  Delivery(AgentRequest& ar, const Settings& s, ClientState& st)
      : ar_(ar), s_(s), st_(st), failures_(ar.req.recipients.size()),
        done_(ar.req.recipients.size(), false) {}

  void run();

 private:
  enum class Outcome { kNext, kRetryPlain, kStop };

  const DeliverRecipient& rcpt(size_t i) const { return ar_.req.recipients[i]; }
  bool pending_left() const {
    for (bool d : done_)
      if (!d) return true;
    return false;
  }
  void report(size_t i, const Failure& f);
  // `dsn_passed_on`: the server took NOTIFY=, so a success notice is its
  // job (Postfix then sends none).
  void sent(size_t i, const Reply& r, const std::string& relay, bool dsn_passed_on);
  // A failure for every pending recipient: 5xx bounces now, 4xx is kept
  // for the next server (and reported at the end when none is left).
  void fail_pending(const Failure& f, const std::vector<size_t>* only = nullptr);
  void fail_all_now(const Failure& f);

  Outcome attempt(const Server& srv, bool allow_tls, bool last);
  std::optional<tls::ClientContext::Policy> policy_for(const Server& srv, Failure* why);
  std::optional<std::pair<std::string, std::string>> credentials(const Server& srv);

  AgentRequest& ar_;
  const Settings& s_;
  ClientState& st_;
  std::vector<std::optional<Failure>> failures_;
  std::vector<bool> done_;
  int sessions_ = 0;
};

void Delivery::report(size_t i, const Failure& f) {
  if (done_[i]) return;
  DsnResult d;
  d.status = f.dsn;
  d.reason = f.reason;
  if (!f.dtext.empty()) {
    d.dtype = "smtp";
    d.dtext = f.dtext;
  }
  ar_.status.set_relay(f.relay.empty() ? "none" : f.relay);
  ar_.status.fail(rcpt(i), d);
  done_[i] = true;
}

void Delivery::sent(size_t i, const Reply& r, const std::string& relay, bool dsn_passed_on) {
  DeliverRecipient copy = rcpt(i);
  if (dsn_passed_on) copy.notify_flags &= ~kDsnNotifySuccess;
  DsnResult d;
  d.status = r.dsn;
  d.reason = r.text();
  d.action = "relayed";
  d.dtype = "smtp";
  d.dtext = r.text();
  ar_.status.set_relay(relay);
  ar_.status.sent(copy, d);
  done_[i] = true;
}

void Delivery::fail_pending(const Failure& f, const std::vector<size_t>* only) {
  auto one = [&](size_t i) {
    if (done_[i]) return;
    if (!f.dsn.empty() && f.dsn[0] == '5') report(i, f);
    else failures_[i] = f;
  };
  if (only) {
    for (size_t i : *only) one(i);
  } else {
    for (size_t i = 0; i < done_.size(); ++i) one(i);
  }
}

void Delivery::fail_all_now(const Failure& f) {
  for (size_t i = 0; i < done_.size(); ++i) report(i, f);
}

std::optional<tls::ClientContext::Policy> Delivery::policy_for(const Server& srv, Failure* why) {
  tls::ClientContext::Policy p;
  p.level = st_.level;
  if (st_.policy_maps) {
    std::optional<std::string> value;
    auto r = st_.policy_maps->find(lowercase(srv.dest));
    if (r) {
      value = *r;
    } else if (r.error().code == Errc::kNotFound && !srv.dest.starts_with("[")) {
      std::string domain = lowercase(srv.dest.substr(0, srv.dest.find(':')));
      auto d = maps::find_domain(*st_.policy_maps, domain, false);
      if (d) value = *d;
      else if (d.error().code != Errc::kNotFound) r = d;
    }
    if (!value && r.error().code != Errc::kNotFound) {
      *why = {"4.3.0", "TLS policy lookup for " + srv.dest + ": table lookup failure", {}, {}};
      return std::nullopt;
    }
    if (value) {
      if (!st_.tls) {
        *why = {"4.7.5", "TLS is required, but our TLS engine is unavailable", {}, {}};
        auto lv = tls::parse_level(split(*value).empty() ? "" : split(*value)[0]);
        if (lv && *lv == tls::Level::kNone) return p.level = tls::Level::kNone, p;
        return std::nullopt;
      }
      auto parsed = st_.tls->parse_policy(*value);
      if (!parsed) {
        log::warn("{}: invalid TLS policy for {}: {}", s_.prefix + "_tls_policy_maps", srv.dest,
                  parsed.error().text);
        *why = {"4.7.5", "TLS policy lookup for " + srv.dest + ": invalid TLS policy", {}, {}};
        return std::nullopt;
      }
      p = *parsed;
      // At "fingerprint" the digests of match= are separated by "|" (they
      // contain colons); the policy parser splits at ":".
      if (p.level == tls::Level::kFingerprint) {
        for (auto word : split(*value)) {
          if (!istarts_with(word, "match=")) continue;
          p.match.clear();
          for (auto fp : split(word.substr(6), "|")) p.match.emplace_back(fp);
        }
      }
    }
  }
  // DANE needs DNSSEC-validated TLSA records, which the resolver does not
  // provide: "dane" is opportunistic TLS, as Postfix does without DNSSEC.
  if (p.level == tls::Level::kDane) p.level = tls::Level::kMay;
  if (p.level != tls::Level::kNone && !st_.tls) {
    if (tls::level_is_mandatory(p.level)) {
      *why = {"4.7.5", "TLS is required, but our TLS engine is unavailable", {}, {}};
      return std::nullopt;
    }
    p.level = tls::Level::kNone;
  }
  return p;
}

std::optional<std::pair<std::string, std::string>> Delivery::credentials(const Server& srv) {
  if (!st_.password_maps) return std::nullopt;
  std::optional<std::string> value;
  if (s_.sender_dependent_auth && !ar_.req.sender.empty()) {
    maps::AddressLookupOptions opt;
    if (auto v = maps::find_address(*st_.password_maps, ar_.req.sender, opt)) value = *v;
  }
  if (!value)
    for (const auto& key : password_keys(srv)) {
      if (auto v = st_.password_maps->find(lowercase(key))) {
        value = *v;
        break;
      }
      if (auto v = st_.password_maps->find(key)) {
        value = *v;
        break;
      }
    }
  if (!value) return std::nullopt;
  size_t colon = value->find(':');
  if (colon == std::string::npos) return std::make_pair(*value, std::string());
  return std::make_pair(value->substr(0, colon), value->substr(colon + 1));
}

std::string phase_error(const Error& e, const Server& srv, std::string_view phase) {
  if (e.code == Errc::kTimeout)
    return fmt::format("conversation with {} timed out while {}", srv.name(), phase);
  if (e.code == Errc::kInvalid)
    return fmt::format("host {} sent an invalid reply while {}: {}", srv.name(), phase, e.text);
  return fmt::format("lost connection with {} while {}", srv.name(), phase);
}

Failure reply_failure(const Reply& r, const Server& srv, std::string_view in_reply_to) {
  return {r.dsn, fmt::format("host {} said: {} (in reply to {})", srv.name(), r.text(), in_reply_to),
          r.text(), srv.name(true)};
}

Delivery::Outcome Delivery::attempt(const Server& srv, bool allow_tls, bool last) {
  const std::string relay = srv.name(true);
  auto io_fail = [&](const Error& e, std::string_view phase) {
    std::string dsn = e.code == Errc::kInvalid ? "4.5.0" : "4.4.2";
    fail_pending({dsn, phase_error(e, srv, phase), {}, relay});
    return Outcome::kNext;
  };
  Failure why;
  auto policy = policy_for(srv, &why);
  if (!policy) {
    why.relay = relay;
    fail_pending(why);
    return Outcome::kNext;
  }
  if (!allow_tls) policy->level = tls::Level::kNone;
  bool mandatory = tls::level_is_mandatory(policy->level);

  // A zero connect timeout (lmtp_connect_timeout's default) leaves it to
  // the system.
  auto connect_limit = s_.connect_timeout.count() > 0 ? s_.connect_timeout : seconds(3600);
  auto fd = connect_server(srv, s_, Clock::now() + connect_limit);
  if (!fd) {
    std::string text = srv.unix_path.empty()
                           ? fmt::format("connect to {}: {}", srv.name(true), fd.error().text)
                           : fmt::format("connect to {}: {}", srv.unix_path, fd.error().text);
    log::info("{}", text);  // as Postfix, for every server that fails
    fail_pending({"4.4.1", text, {}, {}});
    return Outcome::kNext;
  }
  Stream stream = Stream::from_fd(std::move(*fd));
  tls::Peer peer;
  peer.name = srv.host;
  peer.addr = srv.unix_path.empty() ? srv.addr.to_string() : srv.unix_path;
  peer.port = srv.unix_path.empty() ? srv.port : 0;
  std::string hop_host = srv.dest;
  if (hop_host.starts_with("[")) hop_host = hop_host.substr(1, hop_host.find(']') - 1);
  else hop_host = hop_host.substr(0, hop_host.find(':'));
  peer.nexthop = hop_host;
  peer.session_key = fmt::format("{}:{}:{}", relay, tls::level_name(policy->level), srv.dest);
  std::optional<tls::Info> tls_info;
  bool wrapper = st_.tls && st_.tls->wrappermode() && policy->level != tls::Level::kNone;
  if (wrapper) {
    auto info = st_.tls->start(stream, peer, Clock::now() + s_.starttls_timeout, *policy);
    if (!info) {
      fail_pending({"4.7.5", fmt::format("Cannot start TLS: {}", info.error().text), {}, relay});
      return Outcome::kNext;
    }
    tls_info = *info;
  }
  auto send = [&](std::string_view cmd, seconds t) -> Status {
    stream.set_timeout(t);
    stream.write(cmd);
    stream.write("\r\n");
    return stream.flush();
  };
  auto reply = [&](seconds t) { return read_reply(stream, Clock::now() + t); };

  auto greeting = reply(s_.helo_timeout);
  if (!greeting) return io_fail(greeting.error(), "receiving the initial server greeting");
  ++sessions_;
  if (greeting->klass() != 2) {
    Failure f{greeting->dsn,
              fmt::format("host {} refused to talk to me: {}", srv.name(), greeting->text()),
              greeting->text(), relay};
    // smtp_skip_5xx_greeting: move on to the next server (and try again
    // later) rather than bounce at once.
    if (greeting->klass() == 5 && s_.skip_5xx_greeting) f.dsn[0] = '4';
    (void)send("QUIT", s_.quit_timeout);
    fail_pending(f);
    return Outcome::kNext;
  }

  const char* hello = s_.lmtp ? "LHLO" : "EHLO";
  std::string handshake = s_.lmtp ? "performing the LHLO handshake" : "performing the EHLO handshake";
  auto do_hello = [&](Features& f) -> std::optional<Outcome> {
    if (!s_.never_send_ehlo) {
      if (auto w = send(fmt::format("{} {}", hello, s_.helo_name), s_.helo_timeout); !w)
        return io_fail(w.error(), handshake);
      auto r = reply(s_.helo_timeout);
      if (!r) return io_fail(r.error(), handshake);
      if (r->klass() == 2) {
        f = parse_features(*r, true);
        return std::nullopt;
      }
      if (s_.lmtp || r->klass() != 5) {
        fail_pending(reply_failure(*r, srv, fmt::format("{} command", hello)));
        return Outcome::kNext;
      }
    }
    if (auto w = send(fmt::format("HELO {}", s_.helo_name), s_.helo_timeout); !w)
      return io_fail(w.error(), "performing the HELO handshake");
    auto r = reply(s_.helo_timeout);
    if (!r) return io_fail(r.error(), "performing the HELO handshake");
    if (r->klass() != 2) {
      fail_pending(reply_failure(*r, srv, "HELO command"));
      return Outcome::kNext;
    }
    f = parse_features(*r, false);
    return std::nullopt;
  };
  Features features;
  if (auto o = do_hello(features)) return *o;

  // Mail for this destination that comes back to us.
  if (!s_.lmtp && srv.mx_lookup && iequals(features.name, s_.myhostname)) {
    log::warn("host {} replied to HELO/EHLO with my own hostname {}", srv.name(true), s_.myhostname);
    Failure f{srv.best_mx ? "5.4.6" : "4.4.6",
              fmt::format("mail for {} loops back to myself", srv.dest), {}, relay};
    (void)send("QUIT", s_.quit_timeout);
    fail_pending(f);
    return Outcome::kStop;
  }

  if (!tls_info && policy->level != tls::Level::kNone) {
    if (features.starttls) {
      if (auto w = send("STARTTLS", s_.starttls_timeout); !w)
        return io_fail(w.error(), "sending STARTTLS");
      auto r = reply(s_.starttls_timeout);
      if (!r) return io_fail(r.error(), "receiving the STARTTLS response");
      if (r->klass() == 2) {
        auto info = st_.tls->start(stream, peer, Clock::now() + s_.starttls_timeout, *policy);
        if (!info) {
          if (!mandatory) {
            log::info("{}: TLS handshake with {} failed; retrying without TLS", ar_.req.queue_id,
                      srv.name(true));
            return Outcome::kRetryPlain;
          }
          std::string text = info.error().text == "Server certificate not verified"
                                 ? info.error().text
                                 : "Cannot start TLS: handshake failure";
          fail_pending({"4.7.5", text, {}, relay});
          return Outcome::kNext;
        }
        tls_info = *info;
        if (auto o = do_hello(features)) return *o;
      } else if (mandatory) {
        fail_pending({"4.7.4",
                      fmt::format("TLS is required, but host {} refused to start TLS: {}",
                                  srv.name(), r->text()),
                      r->text(), relay});
        (void)send("QUIT", s_.quit_timeout);
        return Outcome::kNext;
      }
    } else if (mandatory) {
      fail_pending({"4.7.4", fmt::format("TLS is required, but was not offered by host {}", srv.name()),
                    {}, relay});
      (void)send("QUIT", s_.quit_timeout);
      return Outcome::kNext;
    }
  }

  // SASL authentication.
  if (s_.sasl_enable && !features.auth.empty()) {
    if (auto creds = credentials(srv)) {
      auto channel = !tls_info ? sasl::Client::Channel::kPlain
                     : tls_info->peer_matched ? sasl::Client::Channel::kTlsVerified
                                              : sasl::Client::Channel::kTls;
      auto auth_fail = [&](std::string dsn, std::string text, std::string dtext) {
        if (s_.sasl_auth_soft_bounce && dsn[0] == '5') dsn[0] = '4';
        fail_pending({dsn, text, dtext, relay});
        (void)send("QUIT", s_.quit_timeout);
        return Outcome::kNext;
      };
      auto client = sasl::Client::create(ar_.ctx.cfg(), srv.host, creds->first, creds->second,
                                         channel, s_.prefix);
      if (!client)
        return auth_fail("4.7.0", fmt::format("SASL authentication failed; cannot authenticate to server {}: {}",
                                              srv.name(), client.error().text), {});
      auto first = (*client)->start(features.auth);
      if (!first) {
        // Postfix's words for "no mechanism both sides accept".
        std::string detail = first.error().code == Errc::kPermanent ? "no mechanism available"
                                                                    : first.error().text;
        return auth_fail("4.7.0", fmt::format("SASL authentication failed; cannot authenticate to server {}: {}",
                                              srv.name(), detail), {});
      }
      std::string cmd = "AUTH " + first->mechanism;
      if (first->initial) cmd += " " + *first->initial;
      if (auto w = send(cmd, s_.sasl_timeout); !w)
        return io_fail(w.error(), "sending AUTH command");
      for (int round = 0;; ++round) {
        auto r = reply(s_.sasl_timeout);
        if (!r) return io_fail(r.error(), "receiving AUTH response");
        if (r->klass() == 2) break;
        if (r->code == 334 && round < 20) {
          std::string challenge = r->lines[0].size() > 4 ? r->lines[0].substr(4) : "";
          auto resp = (*client)->step(challenge);
          if (!resp) {
            (void)send("*", s_.sasl_timeout);
            return auth_fail("4.7.0", fmt::format("SASL authentication failed; cannot authenticate to server {}: {}",
                                                  srv.name(), resp.error().text), {});
          }
          if (auto w = send(*resp, s_.sasl_timeout); !w)
            return io_fail(w.error(), "sending AUTH response");
          continue;
        }
        return auth_fail(r->dsn, fmt::format("SASL authentication failed; server {} said: {}",
                                             srv.name(), r->text()),
                         r->text());
      }
      log::info("{}: SASL authentication to {} as {} succeeded", ar_.req.queue_id, srv.name(true),
                creds->first);
    }
  }

  // Checks before the transaction.
  const auto& req = ar_.req;
  if ((req.smtputf8 & ~1) != 0 && !features.smtputf8) {
    fail_all_now({"5.6.7", fmt::format("SMTPUTF8 is required, but was not offered by host {}", srv.name()),
                  {}, relay});
    (void)send("QUIT", s_.quit_timeout);
    return Outcome::kStop;
  }
  if (features.size > 0 && req.data_size > features.size) {
    fail_all_now({"5.3.4",
                  fmt::format("message size {} exceeds size limit {} of server {}", req.data_size,
                              features.size, srv.name()),
                  {}, relay});
    (void)send("QUIT", s_.quit_timeout);
    return Outcome::kStop;
  }

  // XFORWARD to a content filter.
  if (s_.send_xforward && !features.xforward.empty()) {
    auto has = [&](std::string_view a) {
      return std::find(features.xforward.begin(), features.xforward.end(), a) != features.xforward.end();
    };
    auto val = [](const std::string& v) { return v.empty() ? std::string("[UNAVAILABLE]") : xtext_encode(v); };
    std::string cmd = "XFORWARD";
    if (has("name")) cmd += " NAME=" + val(req.client_name);
    if (has("addr")) cmd += " ADDR=" + val(req.client_addr);
    if (has("source"))
      cmd += std::string(" SOURCE=") + (req.rewrite_context == "local" ? "LOCAL" : "REMOTE");
    if (cmd != "XFORWARD") {
      if (auto w = send(cmd, s_.xforward_timeout); !w) return io_fail(w.error(), "sending XFORWARD");
      auto r = reply(s_.xforward_timeout);
      if (!r) return io_fail(r.error(), "sending XFORWARD");
      if (r->klass() != 2) {
        fail_pending(reply_failure(*r, srv, "XFORWARD command"));
        return Outcome::kNext;
      }
    }
  }

  ar_.status.connected();
  bool eight = lowercase(req.encoding) == "8bit";
  auto addr = [&](const std::string& a) { return s_.quote_rfc821 ? externalize_address(a) : a; };
  std::string mail = fmt::format("MAIL FROM:<{}>", addr(req.sender));
  if (features.size >= 0) mail += fmt::format(" SIZE={}", req.data_size);
  if (eight && features.eightbit) mail += " BODY=8BITMIME";
  if ((req.smtputf8 & 1) && features.smtputf8) mail += " SMTPUTF8";
  if (features.dsn) {
    if (req.ret_flags & kDsnRetFull) mail += " RET=FULL";
    else if (req.ret_flags & kDsnRetHdrs) mail += " RET=HDRS";
    if (!req.envelope_id.empty()) mail += " ENVID=" + xtext_encode(req.envelope_id);
  }

  // The transaction: MAIL, RCPT for each pending recipient, DATA; sent in
  // batches with PIPELINING, else one at a time.
  struct Cmd {
    enum Kind { kMail, kRcpt, kData } kind;
    std::string text;
    size_t rcpt = 0;
  };
  std::vector<Cmd> cmds;
  cmds.push_back({Cmd::kMail, mail, 0});
  for (size_t i = 0; i < done_.size(); ++i) {
    if (done_[i]) continue;
    const auto& r = rcpt(i);
    std::string c = fmt::format("RCPT TO:<{}>", addr(r.address));
    if (features.dsn) {
      if (r.notify_flags) c += " NOTIFY=" + format_dsn_notify(r.notify_flags);
      if (!r.dsn_orcpt.empty()) {
        size_t semi = r.dsn_orcpt.find(';');
        if (semi != std::string::npos)
          c += " ORCPT=" + r.dsn_orcpt.substr(0, semi + 1) + xtext_encode(r.dsn_orcpt.substr(semi + 1));
      } else if (!r.orig.empty()) {
        c += " ORCPT=rfc822;" + xtext_encode(r.orig);
      }
    }
    cmds.push_back({Cmd::kRcpt, c, i});
  }
  // Address probes (verify service, sendmail -bv) stop after RCPT TO and
  // report its reply; StatusReporter records "deliverable"/"undeliverable".
  bool probe = deliver_trace_only(req.flags);
  if (!probe) cmds.push_back({Cmd::kData, "DATA", 0});
  size_t batch = features.pipelining ? 100 : 1;
  bool mail_ok = false;
  std::vector<size_t> accepted;
  std::vector<Reply> accepted_replies;
  std::optional<Reply> data_reply;
  for (size_t pos = 0; pos < cmds.size();) {
    size_t end = std::min(cmds.size(), pos + batch);
    // Without pipelining, stop early once MAIL failed or no RCPT was accepted.
    if (!features.pipelining) {
      if (cmds[pos].kind != Cmd::kMail && !mail_ok) break;
      if (cmds[pos].kind == Cmd::kData && accepted.empty()) break;
    }
    seconds t = s_.rcpt_timeout;
    for (size_t k = pos; k < end; ++k) {
      stream.write(cmds[k].text);
      stream.write("\r\n");
    }
    stream.set_timeout(s_.mail_timeout);
    auto phase_of = [](const Cmd& c) {
      return c.kind == Cmd::kMail ? "sending MAIL FROM"
             : c.kind == Cmd::kRcpt ? "sending RCPT TO"
                                    : "sending DATA command";
    };
    if (auto w = stream.flush(); !w) return io_fail(w.error(), phase_of(cmds[pos]));
    for (size_t k = pos; k < end; ++k) {
      const Cmd& c = cmds[k];
      t = c.kind == Cmd::kMail ? s_.mail_timeout : c.kind == Cmd::kRcpt ? s_.rcpt_timeout : s_.data_init_timeout;
      auto r = reply(t);
      if (!r) return io_fail(r.error(), phase_of(c));
      if (c.kind == Cmd::kMail) {
        mail_ok = r->klass() == 2;
        if (!mail_ok) fail_pending(reply_failure(*r, srv, "MAIL FROM command"));
      } else if (c.kind == Cmd::kRcpt) {
        if (!mail_ok) continue;
        if (r->klass() == 2) {
          accepted.push_back(c.rcpt);
          accepted_replies.push_back(*r);
        } else {
          std::vector<size_t> one{c.rcpt};
          fail_pending(reply_failure(*r, srv, "RCPT TO command"), &one);
        }
      } else {
        data_reply = *r;
      }
    }
    pos = end;
  }
  if (probe) {
    for (size_t n = 0; n < accepted.size(); ++n) sent(accepted[n], accepted_replies[n], relay, features.dsn);
    if (send("QUIT", s_.quit_timeout)) (void)reply(std::min(s_.quit_timeout, seconds(10)));
    return pending_left() ? Outcome::kNext : Outcome::kStop;
  }
  if (!mail_ok || accepted.empty()) {
    if (data_reply && data_reply->code == 354) return Outcome::kNext;  // just hang up
    (void)send("QUIT", s_.quit_timeout);
    if (mail_ok || !pending_left()) (void)reply(std::min(s_.quit_timeout, seconds(10)));
    return pending_left() ? Outcome::kNext : Outcome::kStop;
  }
  if (!data_reply || data_reply->code != 354) {
    if (data_reply) fail_pending(reply_failure(*data_reply, srv, "DATA command"), &accepted);
    (void)send("QUIT", s_.quit_timeout);
    return Outcome::kNext;
  }
  bool downgrade = s_.mime_conversion && !features.eightbit && lowercase(req.encoding) != "7bit";
  stream.set_timeout(s_.data_xfer_timeout);
  bool local = false;
  if (auto w = send_content(stream, ar_.queue_fd, req.data_offset, s_.line_length_limit,
                              downgrade, &local);
      !w) {
    if (local) {
      log::warn("{}: {}", req.queue_id, w.error().text);
      fail_pending({"4.3.0", "error reading queue file", {}, relay}, &accepted);
      return Outcome::kStop;
    }
    return io_fail(w.error(), "sending message body");
  }
  std::string after_dot = "sending end of data -- message may be sent more than once";
  if (!s_.lmtp) {
    auto r = reply(s_.data_done_timeout);
    if (!r) return io_fail(r.error(), after_dot);
    if (r->klass() == 2) {
      for (size_t i : accepted) sent(i, *r, relay, features.dsn);
    } else {
      fail_pending(reply_failure(*r, srv, "end of DATA command"), &accepted);
    }
  } else {
    for (size_t n = 0; n < accepted.size(); ++n) {
      auto r = reply(s_.data_done_timeout);
      if (!r) {
        std::vector<size_t> rest(accepted.begin() + static_cast<long>(n), accepted.end());
        fail_pending({"4.4.2", phase_error(r.error(), srv, after_dot), {}, relay}, &rest);
        return Outcome::kNext;
      }
      if (r->klass() == 2) sent(accepted[n], *r, relay, features.dsn);
      else {
        std::vector<size_t> one{accepted[n]};
        fail_pending(reply_failure(*r, srv, "end of DATA command"), &one);
      }
    }
  }
  if (send("QUIT", s_.quit_timeout)) (void)reply(std::min(s_.quit_timeout, seconds(10)));
  if (tls_info) {
    if (auto* t = dynamic_cast<tls::TlsTransport*>(&stream.transport()))
      t->shutdown(Clock::now() + seconds(2));
  }
  return pending_left() ? Outcome::kNext : Outcome::kStop;
}

void Delivery::run() {
  const auto& req = ar_.req;
  if (!st_.tls_error.empty() && tls::level_is_mandatory(st_.level)) {
    fail_all_now({"4.7.5", "TLS is required, but our TLS engine is unavailable", {}, {}});
    return;
  }
  LookupOptions o;
  o.use_dns = s_.use_dns && st_.resolver;
  o.use_native = s_.use_native || !st_.resolver;
  o.mx_lookups = s_.mx_lookups && st_.resolver;
  o.want_v4 = s_.want_v4;
  o.want_v6 = s_.want_v6;
  o.prefer = s_.address_preference;
  o.is_self = [this](const IpAddress& a) {
    for (const auto& x : st_.self)
      if (x == a) return true;
    return false;
  };
  Lookups l;
  dns::Resolver* res = st_.resolver.get();
  l.mx = [res](const std::string& domain, bool* null_mx) -> Result<std::vector<std::pair<int, std::string>>> {
    auto r = res->mx(domain);
    if (!r) return std::unexpected(r.error());
    *null_mx = r->null_mx;
    std::vector<std::pair<int, std::string>> out;
    for (const auto& m : r->hosts) out.emplace_back(m.preference, m.host);
    return out;
  };
  l.dns_addresses = [res, &o](const std::string& host) {
    return res->addresses(host, o.want_v4, o.want_v6);
  };
  l.native_addresses = [&o](const std::string& host) {
    return dns::native_addresses(host, o.want_v4, o.want_v6);
  };

  std::vector<std::string> dests{req.nexthop};
  if (!s_.lmtp)
    for (const auto& f : s_.fallback_relay)
      if (!iequals(f, req.nexthop)) dests.push_back(f);
  std::vector<Server> servers;
  std::optional<LookupFailure> first_failure;
  for (size_t k = 0; k < dests.size(); ++k) {
    std::string text = dests[k];
    if (text.empty()) {
      // No next hop: the recipients' domain (all the same in one request).
      const std::string& a = req.recipients.empty() ? std::string() : req.recipients[0].address;
      size_t at = a.rfind('@');
      text = at == std::string::npos ? s_.myhostname : a.substr(at + 1);
    }
    auto hop = parse_nexthop(text, s_.default_port, s_.lmtp);
    if (!hop) {
      log::warn("{}", hop.error().text);
      if (!first_failure) first_failure = LookupFailure{"4.3.5", "mail system configuration error"};
      continue;
    }
    // A relative unix: path is under the queue directory, our working
    // directory; Postfix's logs show it as given, with our own host name.
    auto found = find_servers(*hop, o, l);
    if (!found) {
      if (!first_failure) first_failure = found.error();
      continue;
    }
    for (auto& s : *found) {
      if (!s.unix_path.empty()) s.host = s_.myhostname;
      servers.push_back(std::move(s));
    }
  }
  if (s_.mx_address_limit > 0 && servers.size() > static_cast<size_t>(s_.mx_address_limit))
    servers.resize(static_cast<size_t>(s_.mx_address_limit));
  if (servers.empty()) {
    LookupFailure f = first_failure.value_or(LookupFailure{"4.4.3", "no route to destination"});
    fail_all_now({f.dsn, f.reason, {}, {}});
    return;
  }
  bool reached = false;
  for (size_t k = 0; k < servers.size() && pending_left(); ++k) {
    if (s_.mx_session_limit > 0 && sessions_ >= s_.mx_session_limit) break;
    bool last = k + 1 == servers.size();
    int before = sessions_;
    Outcome out = attempt(servers[k], true, last);
    if (out == Outcome::kRetryPlain) out = attempt(servers[k], false, last);
    if (sessions_ > before) reached = true;
    if (out == Outcome::kStop) break;
  }
  // What is left is deferred (or bounced) with its last reason.
  std::optional<Failure> site;
  for (size_t i = 0; i < done_.size(); ++i) {
    if (done_[i]) continue;
    Failure f = failures_[i].value_or(Failure{"4.4.1", "delivery failed at all servers", {}, {}});
    if (!site) site = f;
    report(i, f);
  }
  // No server answered at all: qmgr suspends the destination for a while.
  if (!reached && site && site->dsn[0] == '4') {
    ar_.status.reply().dsn_status = site->dsn;
    ar_.status.reply().reason = site->reason;
  }
}

}  // namespace

void deliver(AgentRequest& ar, const Settings& settings, ClientState& state) {
  Delivery d(ar, settings, state);
  d.run();
}

}  // namespace postern::smtp
