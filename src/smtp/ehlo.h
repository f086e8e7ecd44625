// What a server announces in its EHLO/LHLO reply.
#pragma once

#include <string>
#include <vector>

#include "smtp/reply.h"

namespace postern::smtp {

struct Features {
  bool esmtp = false, pipelining = false, eightbit = false, smtputf8 = false, dsn = false,
       starttls = false;
  long long size = -1;  // -1: no SIZE; 0: no limit announced
  std::vector<std::string> auth;
  std::vector<std::string> xforward;
  std::string name;  // the server's name from the first line
};

// The features of a 250 reply to EHLO (esmtp) or HELO (no features).
Features parse_features(const Reply& r, bool esmtp);

}  // namespace postern::smtp
