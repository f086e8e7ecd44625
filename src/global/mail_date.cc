#include "global/mail_date.h"

#include <cstdlib>
#include <fmt/format.h>

namespace postern {

std::string mail_date(std::time_t when) {
  std::tm tm{};
  ::localtime_r(&when, &tm);
  long offset = tm.tm_gmtoff;
  char sign = offset < 0 ? '-' : '+';
  offset = std::labs(offset);
  char head[64];
  std::strftime(head, sizeof head, "%a, %e %b %Y %H:%M:%S", &tm);
  char zone[16] = "";
  std::strftime(zone, sizeof zone, "%Z", &tm);
  std::string out = fmt::format("{} {}{:02}{:02}", head, sign, offset / 3600, (offset % 3600) / 60);
  if (zone[0]) out += fmt::format(" ({})", zone);
  return out;
}

}  // namespace postern
