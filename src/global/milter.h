// Client side of the Sendmail milter protocol (version 6, as Postfix's
// milter8 speaks it), for smtpd_milters and non_smtpd_milters.
//
// Wire format: every packet is a 4-byte network-order length (counting the
// command byte), one command byte and its data. The MTA offers protocol 6
// with all actions and protocol steps; the milter answers which actions it
// may take, which events it does not want (SMFIP_NO*), which events it
// does not reply to (SMFIP_NR_*) and, optionally, which macros it wants per
// stage.
//
// A milter that cannot be reached, times out, closes the connection or
// sends something unexpected goes into the error state: from then on every
// event answers with the milter's default_action (accept: the milter is
// skipped; reject, tempfail: that reply; quarantine: hold the message).
// Every read has a size limit and a timeout; nothing here throws.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "global/attr.h"
#include "util/error.h"
#include "util/stream.h"
#include "util/unique_fd.h"

namespace postern {
class Config;
}

namespace postern::milter {

// Macro stages, numbered as in the negotiation reply (SMFIM_*).
enum MacroStage : int {
  kMacroConnect = 0,
  kMacroHelo = 1,
  kMacroMail = 2,
  kMacroRcpt = 3,
  kMacroData = 4,
  kMacroEom = 5,
  kMacroEoh = 6,
  kMacroStages = 7,
};

// Protocol-step flags (SMFIP_*).
enum ProtocolFlags : uint32_t {
  kNoConnect = 0x1, kNoHelo = 0x2, kNoMail = 0x4, kNoRcpt = 0x8, kNoBody = 0x10,
  kNoHeaders = 0x20, kNoEoh = 0x40, kNrHeader = 0x80, kNoUnknown = 0x100, kNoData = 0x200,
  kSkip = 0x400, kRcptRej = 0x800, kNrConnect = 0x1000, kNrHelo = 0x2000, kNrMail = 0x4000,
  kNrRcpt = 0x8000, kNrData = 0x10000, kNrUnknown = 0x20000, kNrEoh = 0x40000,
  kNrBody = 0x80000, kHeaderLeadingSpace = 0x100000,
};
inline constexpr uint32_t kAllProtocolFlags = 0x1fffff;
// Action flags (SMFIF_*).
inline constexpr uint32_t kAllActions = 0x1ff;

// One configured milter (an entry of smtpd_milters / non_smtpd_milters).
struct Settings {
  std::string name;  // "inet:127.0.0.1:8891" or "unix:/path"
  int connect_timeout = 30, command_timeout = 30, content_timeout = 300;
  std::string default_action = "tempfail";  // accept, reject, tempfail, quarantine
  int protocol = 6;
  std::array<std::string, kMacroStages> macros;  // milter_*_macros, space separated
};

// Parses a milter list ("inet:h:p, { unix:/s, default_action=accept }") with
// the milter_* parameters of `cfg` as defaults. Errors name `param`.
Result<std::vector<Settings>> parse_milter_list(const Config& cfg, std::string_view param,
                                                std::string_view value);

// What a milter (or the default action) says about an event.
struct Reply {
  enum Kind { kContinue, kAccept, kReject, kTempfail, kDiscard, kQuarantine };
  Kind kind = kContinue;
  std::string text;  // SMTP reply for kReject/kTempfail; reason for kQuarantine
};

// One modification requested at end of message.
struct Modification {
  enum Kind {
    kAddHeader, kInsertHeader, kChangeHeader, kReplaceBody, kAddRcpt, kDeleteRcpt,
    kChangeFrom,
  };
  Kind kind;
  uint32_t index = 0;   // insert position / occurrence (1-based) for change
  std::string name;     // header name, or address
  std::string value;    // header value, body data, or ESMTP arguments
};

// Macro values by name ("j", "{daemon_name}"); absent macros are not sent.
using MacroFn = std::function<std::optional<std::string>(std::string_view name)>;

class Milter {
 public:
  // Connects and negotiates. Never fails: an unreachable milter comes back
  // in the error state (and the failure is logged as a warning).
  static std::unique_ptr<Milter> open(const Settings& s);
  // A milter whose connection was handed over (cleanup side), with the
  // state written by export_state().
  static std::unique_ptr<Milter> adopt(UniqueFd fd, const AttrList& state);

  const std::string& name() const { return s_.name; }
  bool failed() const { return state_ == State::kError; }
  // True when the milter takes no part in the rest of this message.
  bool skipped() const { return state_ != State::kReady; }
  // The connection, for handing over; -1 when there is none.
  int fd() const;
  AttrList export_state() const;

  Reply connect(std::string_view host, std::string_view addr, int port, const MacroFn& m);
  Reply helo(std::string_view name, const MacroFn& m);
  // args[0] is "<address>", then ESMTP parameters.
  Reply mail(const std::vector<std::string>& args, const MacroFn& m);
  Reply rcpt(const std::vector<std::string>& args, const MacroFn& m);
  Reply data(const MacroFn& m);
  Reply header(std::string_view name, std::string_view value);
  Reply eoh(const MacroFn& m);
  Reply body(std::string_view chunk);
  // End of message; modifications are appended to *mods (only those the
  // negotiated actions allow).
  Reply eom(const MacroFn& m, std::vector<Modification>* mods);
  // Ends the current message (the milter stays connected).
  void abort();
  void quit();
  // The message is over: a milter that accepted this message takes part
  // in the next one again.
  void next_message();

  // What the milter wants: for tests.
  uint32_t actions() const { return actions_; }
  uint32_t protocol_flags() const { return pflags_; }

 private:
  enum class State { kReady, kAcceptedMessage, kAcceptedSession, kError };
  explicit Milter(Settings s) : s_(std::move(s)) {}

  Status send(char cmd, std::string_view data, int timeout);
  Result<std::pair<char, std::string>> receive(int timeout);
  Status send_macros(char cmd, MacroStage stage, const MacroFn& m);
  // Sends an event and reads the reply (unless `no_reply`).
  Reply event(char cmd, std::string_view data, bool no_reply, int timeout,
              std::vector<Modification>* mods = nullptr);
  Reply fail(std::string_view why);
  Reply default_reply() const;
  Status negotiate();

  Settings s_;
  std::unique_ptr<Stream> stream_;
  State state_ = State::kError;
  uint32_t version_ = 6, actions_ = 0, pflags_ = 0;
  std::array<std::optional<std::string>, kMacroStages> wanted_;  // from negotiation
};

// The protocol reply text a milter's reject/tempfail carries, or Postfix's
// default ("550 5.7.1 Command rejected").
std::string reject_text();
std::string tempfail_text();

// A list of milters, all consulted per event: the first reply that is not
// "continue" decides (later milters do not see the event).
class MilterList {
 public:
  MilterList() = default;
  explicit MilterList(std::vector<std::unique_ptr<Milter>> m) : milters_(std::move(m)) {}
  static MilterList open(const std::vector<Settings>& list);
  bool empty() const { return milters_.empty(); }
  std::vector<std::unique_ptr<Milter>>& milters() { return milters_; }

  Reply connect(std::string_view host, std::string_view addr, int port, const MacroFn& m);
  Reply helo(std::string_view name, const MacroFn& m);
  Reply mail(const std::vector<std::string>& args, const MacroFn& m);
  Reply rcpt(const std::vector<std::string>& args, const MacroFn& m);
  Reply data(const MacroFn& m);
  void abort();
  void quit();
  void next_message();

 private:
  template <class F>
  Reply each(F f);
  std::vector<std::unique_ptr<Milter>> milters_;
};

}  // namespace postern::milter
