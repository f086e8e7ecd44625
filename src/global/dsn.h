// Delivery status notification building blocks (RFC 3461-3464, 2034):
// enhanced status codes, NOTIFY/RET flags as Postfix encodes them, xtext.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern {

// NOTIFY= bits, as Postfix stores them (A notify_flags=N).
inline constexpr int kDsnNotifyNever = 1;
inline constexpr int kDsnNotifySuccess = 2;
inline constexpr int kDsnNotifyDelay = 4;
inline constexpr int kDsnNotifyFailure = 8;
// RET= values (A ret_flags=N).
inline constexpr int kDsnRetFull = 1;
inline constexpr int kDsnRetHdrs = 2;

// "SUCCESS,DELAY" -> bits; nullopt for an unknown keyword or NEVER mixed
// with others.
std::optional<int> parse_dsn_notify(std::string_view text);
std::string format_dsn_notify(int mask);
std::optional<int> parse_dsn_ret(std::string_view text);

// True for "X.Y.Z" with X in 2,4,5, Y 0..999, Z 0..999.
bool valid_dsn_status(std::string_view status);
// The enhanced status code at the start of `text` ("5.1.1 User unknown"),
// or nullopt.
std::optional<std::string> leading_dsn_status(std::string_view text);

// A delivery outcome for one recipient: what bounce/defer/trace logs hold.
struct DsnResult {
  std::string status;   // "5.1.1"
  std::string action;   // "failed", "delayed", "delivered", "relayed", "expanded"
  std::string reason;   // human text: "unknown user: \"x\""
  std::string dtype;    // diagnostic type ("smtp") and text (the reply)
  std::string dtext;
  std::string mtype;    // remote MTA type ("dns") and name
  std::string mname;
  char klass() const { return status.empty() ? '4' : status[0]; }
};

// RFC 3461 xtext: "+XX" for '+', '=' and characters outside 33..126.
std::string xtext_encode(std::string_view text);
std::optional<std::string> xtext_decode(std::string_view text);

}  // namespace postern
