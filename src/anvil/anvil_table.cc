#include "anvil/anvil_table.h"

#include <fmt/format.h>

namespace postern {

AnvilEntry& AnvilTable::entry(const std::string& ident, time_t now) {
  auto [it, added] = table_.try_emplace(ident);
  AnvilEntry& e = it->second;
  // A new time unit starts the rates over.
  if (added || e.start + unit_ < now) {
    e.rate = e.mail = e.rcpt = e.newtls = e.auth = 0;
    e.start = now;
  }
  if (table_.size() > max_size_) {
    max_size_ = table_.size();
    max_size_when_ = now;
  }
  return e;
}

const AnvilEntry& AnvilTable::connect(const std::string& ident, time_t now) {
  AnvilEntry& e = entry(ident, now);
  ++e.count;
  ++e.rate;
  conn_rate_.update(e.rate, ident, now);
  conn_count_.update(e.count, ident, now);
  return e;
}

void AnvilTable::disconnect(const std::string& ident, time_t now) {
  auto it = table_.find(ident);
  if (it == table_.end()) return;
  if (it->second.count > 0) --it->second.count;
  if (it->second.count == 0 && it->second.start + unit_ < now) table_.erase(it);
}

const AnvilEntry& AnvilTable::message(const std::string& ident, time_t now) {
  AnvilEntry& e = entry(ident, now);
  mail_rate_.update(++e.mail, ident, now);
  return e;
}

const AnvilEntry& AnvilTable::recipient(const std::string& ident, time_t now) {
  AnvilEntry& e = entry(ident, now);
  rcpt_rate_.update(++e.rcpt, ident, now);
  return e;
}

const AnvilEntry& AnvilTable::newtls(const std::string& ident, time_t now) {
  AnvilEntry& e = entry(ident, now);
  newtls_rate_.update(++e.newtls, ident, now);
  return e;
}

AnvilEntry AnvilTable::newtls_status(const std::string& ident, time_t now) {
  return lookup(ident, now);
}

const AnvilEntry& AnvilTable::auth(const std::string& ident, time_t now) {
  AnvilEntry& e = entry(ident, now);
  auth_rate_.update(++e.auth, ident, now);
  return e;
}

AnvilEntry AnvilTable::lookup(const std::string& ident, time_t now) {
  auto it = table_.find(ident);
  if (it == table_.end()) return {};
  AnvilEntry e = it->second;
  if (e.start + unit_ < now) e.rate = e.mail = e.rcpt = e.newtls = e.auth = 0;
  return e;
}

void AnvilTable::expire(time_t now) {
  for (auto it = table_.begin(); it != table_.end();) {
    if (it->second.count == 0 && it->second.start + unit_ < now) it = table_.erase(it);
    else ++it;
  }
}

namespace {

std::string when_text(time_t t) {
  struct tm tm;
  char buf[64];
  ::localtime_r(&t, &tm);
  ::strftime(buf, sizeof buf, "%b %e %H:%M:%S", &tm);
  return buf;
}

}  // namespace

std::vector<std::string> AnvilTable::statistics() {
  std::vector<std::string> out;
  auto rate = [&](Max& m, std::string_view what) {
    if (m.value > 0)
      out.push_back(fmt::format("max {} rate {}/{}s for ({}) at {}", what, m.value, unit_, m.ident,
                                when_text(m.when)));
    m = Max{};
  };
  rate(conn_rate_, "connection");
  if (conn_count_.value > 0)
    out.push_back(fmt::format("max connection count {} for ({}) at {}", conn_count_.value,
                              conn_count_.ident, when_text(conn_count_.when)));
  conn_count_ = Max{};
  rate(mail_rate_, "message");
  rate(rcpt_rate_, "recipient");
  rate(newtls_rate_, "newtls");
  rate(auth_rate_, "auth");
  if (max_size_ > 0)
    out.push_back(fmt::format("max cache size {} at {}", max_size_, when_text(max_size_when_)));
  max_size_ = 0;
  return out;
}

}  // namespace postern
