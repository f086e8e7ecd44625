// smtpd_proxy_filter: the before-queue content filter. Instead of cleanup,
// smtpd relays the mail transaction over SMTP to the filter
// ($smtpd_proxy_filter: "host:port", "inet:host:port" or "unix:path")
// and passes the filter's replies back to the client:
//   at the first accepted RCPT: connect, banner, EHLO $smtpd_proxy_ehlo,
//     XFORWARD (client name, address, port, protocol, helo, source) when
//     the filter announces it, MAIL FROM (with BODY=, RET=, ENVID=);
//   each RCPT TO (with NOTIFY=, ORCPT=) -> the filter's reply;
//   DATA -> the filter's reply; the content (with smtpd's Received:
//     header) dot-stuffed; "." -> the filter's reply is the client's.
// Every read and write has $smtpd_proxy_timeout. A filter that cannot be
// reached or breaks the conversation gives Postfix's
// "451 4.3.0 Error: queue file write error".
// With smtpd_proxy_options = speed_adjust the whole message is received
// first (RCPT replies are smtpd's own) and relayed only after the client's
// "." (so a slow client does not hold a filter process).
#pragma once

#include <optional>
#include <string>

#include "smtpd/smtpd_session.h"

namespace postern::smtpd {

// True when smtpd_proxy_filter is set.
bool proxy_enabled(const Config& cfg);

// A SinkOpener whose sinks relay to the filter.
SinkOpener proxy_opener(const Config& cfg);

// For a sink made by proxy_opener: the filter's last reply ("" before
// there is one; lines joined with "\r\n"), else nullopt.
std::optional<std::string> proxy_reply(const MessageSink* sink);

struct ProxyEndpoint {
  bool unix_socket = false;
  std::string host;  // or the socket path
  int port = 0;
};
// Parses "host:port", "inet:host:port", "[addr]:port", "unix:path".
Result<ProxyEndpoint> parse_proxy_endpoint(std::string_view spec);

}  // namespace postern::smtpd
