// Client of the fast flush service (public/flush), used by postqueue -s/-i
// and smtpd's ETRN. Requests are attribute lists (attr0):
//   request=add site=S queue_id=ID | request=send_site site=S |
//   request=send_file queue_id=ID | request=refresh | request=purge
// and each reply is status=N (FlushStatus).
#pragma once

#include <string>
#include <string_view>

namespace postern {

class Config;

enum FlushStatus : int {
  kFlushOk = 0,
  kFlushFail = -1,  // the service could not be reached or failed
  kFlushBad = 3,    // invalid request
  kFlushDeny = 4,   // the site is not eligible (fast_flush_domains)
};

inline constexpr std::string_view kFlushProtocol = "queue_flush_protocol";

// True when fast_flush_domains lists `site` (its lookup failing is "no").
bool flush_site_eligible(const Config& cfg, std::string_view site);

// Each returns the server's status, kFlushDeny without asking the server
// when the site is not eligible, and kFlushFail (with a warning logged that
// names the socket) when the service cannot be reached.
int flush_add(const Config& cfg, std::string_view site, std::string_view queue_id);
int flush_send_site(const Config& cfg, std::string_view site);
int flush_send_file(const Config& cfg, std::string_view queue_id);
int flush_refresh(const Config& cfg);
int flush_purge(const Config& cfg);

}  // namespace postern
