#include "smtp/ehlo.h"

#include <algorithm>
#include <cstdlib>

#include "util/strings.h"

namespace postern::smtp {

Features parse_features(const Reply& r, bool esmtp) {
  Features f;
  f.esmtp = esmtp;
  if (!r.lines.empty()) {
    auto words = split(std::string_view(r.lines[0]).substr(std::min<size_t>(4, r.lines[0].size())));
    if (!words.empty()) f.name = std::string(words[0]);
  }
  if (!esmtp) return f;
  for (size_t i = 1; i < r.lines.size(); ++i) {
    std::string_view l = r.lines[i];
    if (l.size() <= 4) continue;
    auto words = split(l.substr(4));
    if (words.empty()) continue;
    std::string key = lowercase(words[0]);
    if (key == "pipelining") f.pipelining = true;
    else if (key == "8bitmime") f.eightbit = true;
    else if (key == "smtputf8") f.smtputf8 = true;
    else if (key == "dsn") f.dsn = true;
    else if (key == "starttls") f.starttls = true;
    else if (key == "size") f.size = words.size() > 1 ? std::atoll(std::string(words[1]).c_str()) : 0;
    else if (key == "auth" || key.starts_with("auth=")) {
      if (key.starts_with("auth=")) f.auth.emplace_back(std::string(words[0].substr(5)));
      for (size_t w = 1; w < words.size(); ++w) f.auth.emplace_back(std::string(words[w]));
    } else if (key == "xforward") {
      for (size_t w = 1; w < words.size(); ++w) f.xforward.push_back(lowercase(words[w]));
    }
  }
  for (auto& m : f.auth) m = std::string(trim(m));
  return f;
}

// Connects to an inet server from the bind address, before the deadline.

}  // namespace postern::smtp
