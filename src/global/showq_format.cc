#include "global/showq_format.h"

#include <time.h>

#include <fmt/format.h>

#include "global/queue_id.h"
#include "util/strings.h"

namespace postern {

AttrList showq_encode(const ShowqMessage& m) {
  AttrList l;
  l.add("queue_name", m.queue_name);
  l.add("queue_id", m.queue_id);
  l.add("time", m.arrival_time);
  l.add("size", m.size);
  l.add("forced_expire", m.forced_expire ? 1 : 0);
  l.add("sender", m.sender);
  for (const auto& r : m.recipients) {
    l.add("recipient", r.address);
    l.add("reason", r.reason);
  }
  return l;
}

Result<ShowqMessage> showq_decode(const AttrList& list) {
  ShowqMessage m;
  auto name = list.get("queue_name");
  auto id = list.get("queue_id");
  auto t = list.number("time");
  auto size = list.number("size");
  if (!name || !id || !t || !size)
    return fail(Errc::kInvalid, "malformed showq message: missing queue_name, queue_id, time or size");
  m.queue_name = std::string(*name);
  m.queue_id = std::string(*id);
  m.arrival_time = *t;
  m.size = *size;
  m.forced_expire = list.number_or("forced_expire", 0) != 0;
  m.sender = std::string(list.str("sender"));
  const auto& items = list.items();
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].first != "recipient") continue;
    ShowqRecipient r{items[i].second, {}};
    if (i + 1 < items.size() && items[i + 1].first == "reason") r.reason = items[++i].second;
    m.recipients.push_back(std::move(r));
  }
  return m;
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f)
          out += fmt::format("\\u{:04X}", static_cast<unsigned>(c));
        else
          out += static_cast<char>(c);
    }
  }
  return out;
}

std::string showq_json_line(const ShowqMessage& m) {
  std::string out = fmt::format(
      "{{\"queue_name\": \"{}\", \"queue_id\": \"{}\", \"arrival_time\": {}, "
      "\"message_size\": {}, \"forced_expire\": {}, \"sender\": \"{}\", \"recipients\": [",
      json_escape(m.queue_name), json_escape(m.queue_id), m.arrival_time, m.size,
      m.forced_expire ? "true" : "false", json_escape(m.sender));
  bool first = true;
  for (const auto& r : m.recipients) {
    if (!first) out += ", ";
    first = false;
    out += fmt::format("{{\"address\": \"{}\"", json_escape(r.address));
    if (!r.reason.empty()) out += fmt::format(", \"delay_reason\": \"{}\"", json_escape(r.reason));
    out += "}";
  }
  out += "]}\n";
  return out;
}

namespace {

// asctime() text of an epoch time in local time, without the newline.
std::string asctime_text(long long when) {
  time_t t = static_cast<time_t>(when);
  struct tm tm;
  char buf[64];
  if (!::localtime_r(&t, &tm) || !::asctime_r(&tm, buf)) return "???";
  return buf;
}

}  // namespace

void MailqPrinter::add(const ShowqMessage& m, std::string& out) {
  bool long_ids = is_long_queue_id(m.queue_id);
  if (count_ == 0) {
    out += long_ids
               ? "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n"
               : "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n";
  } else {
    out += "\n";
  }
  ++count_;
  total_size_ += m.size;
  std::string id = m.queue_id;
  if (m.queue_name == "active") id += '*';
  else if (m.queue_name == "hold") id += '!';
  if (m.forced_expire) id += '#';
  std::string when = asctime_text(m.arrival_time);
  std::string sender = m.sender.empty() ? "MAILER-DAEMON" : printable(m.sender);
  if (long_ids)
    out += fmt::format("{:<17} {:>8} {:.19} {}\n", id, m.size, when, sender);
  else
    out += fmt::format("{:<11} {:>7} {:.20} {}\n", id, m.size, when, sender);
  int indent = long_ids ? 47 : 41;
  std::string prev_reason;
  for (const auto& r : m.recipients) {
    if (r.reason != prev_reason) {
      std::string why = r.reason.empty() ? "reason unavailable" : printable(r.reason);
      int pad = 76 - static_cast<int>(why.size());
      if (pad < 0) pad = 0;
      out += fmt::format("{:{}}({})\n", "", pad, why);
      prev_reason = r.reason;
    }
    out += fmt::format("{:{}}{}\n", "", indent, printable(r.address));
  }
}

void MailqPrinter::finish(std::string& out) {
  if (count_ == 0) {
    out += "Mail queue is empty\n";
    return;
  }
  out += fmt::format("\n-- {} Kbytes in {} Request{}.\n", total_size_ / 1024, count_,
                     count_ == 1 ? "" : "s");
}

}  // namespace postern
