#include "postdrop/maildrop.h"

#include <fmt/format.h>

#include "global/mail_date.h"
#include "global/rec_type.h"
#include "global/rfc822_address.h"
#include "util/strings.h"

namespace postern::submit {

Status MaildropValidator::accept(int type) {
  if (want_time_) {
    if (type != rec::kTime) return fail(Errc::kInvalid, fmt::format("first record is type {}, not T", type));
    want_time_ = false;
    return {};
  }
  auto in = [type](std::string_view set) {
    return type > 0 && type < 256 && set.find(static_cast<char>(type)) != std::string_view::npos;
  };
  switch (segment_) {
    case 0:
      if (!in(kEnvelopeTypes))
        return fail(Errc::kInvalid, fmt::format("unexpected record type {} in envelope", type));
      if (type == rec::kSender) sender_ = true;
      if (type == rec::kMessage) {
        if (!sender_) return fail(Errc::kInvalid, "no sender record");
        segment_ = 1;
      }
      return {};
    case 1:
      if (!in(kContentTypes))
        return fail(Errc::kInvalid, fmt::format("unexpected record type {} in content", type));
      if (type == rec::kExtracted) segment_ = 2;
      return {};
    case 2:
      if (!in(kExtractedTypes))
        return fail(Errc::kInvalid,
                    fmt::format("unexpected record type {} in extracted segment", type));
      if (type == rec::kEnd) segment_ = 3;
      return {};
    default:
      return fail(Errc::kInvalid, "record after end of message");
  }
}

std::vector<Record> submission_records(const Submission& m, size_t line_limit) {
  std::vector<Record> out;
  auto add = [&out](int type, std::string data) { out.push_back(Record{type, std::move(data), 0}); };
  if (!m.envelope_id.empty()) add(rec::kAttr, "envelope_id=" + m.envelope_id);
  if (!m.ret_flags.empty()) add(rec::kAttr, "ret_flags=" + m.ret_flags);
  if (!m.fullname.empty()) add(rec::kFullName, m.fullname);
  add(rec::kSender, m.sender);
  for (const auto& r : m.recipients) {
    if (m.notify_flags) add(rec::kAttr, fmt::format("notify_flags={}", m.notify_flags));
    add(rec::kRecipient, r);
  }
  add(rec::kMessage, "");
  for (std::string_view line : m.lines) {
    while (line_limit > 0 && line.size() > line_limit) {
      add(rec::kCont, std::string(line.substr(0, line_limit)));
      line.remove_prefix(line_limit);
    }
    add(rec::kNorm, std::string(line));
  }
  add(rec::kExtracted, "");
  for (const auto& r : m.extracted) {
    if (m.notify_flags) add(rec::kAttr, fmt::format("notify_flags={}", m.notify_flags));
    add(rec::kRecipient, r);
  }
  add(rec::kEnd, "");
  return out;
}

std::string encode_records(const std::vector<Record>& records) {
  std::string out;
  for (const auto& r : records) append_record(out, r.type, r.data);
  return out;
}

std::string records_sender(const std::vector<Record>& records) {
  for (const auto& r : records)
    if (r.type == rec::kSender) return r.data;
  return {};
}

Result<CleanupOutcome> feed_cleanup(CleanupClient& cleanup, const std::vector<Record>& records,
                                    const std::string& myhostname, const std::string& mail_name,
                                    uid_t uid, std::time_t arrival) {
  for (const auto& r : records) {
    if (r.type == rec::kEnd) break;
    if (auto st = cleanup.record(r.type, r.data); !st) return std::unexpected(st.error());
    if (r.type == rec::kMessage) {
      std::string first = fmt::format("Received: by {} ({}, from userid {})", myhostname,
                                      mail_name, static_cast<long>(uid));
      std::string second = fmt::format("\tid {}; {}", cleanup.queue_id(), mail_date(arrival));
      if (auto st = cleanup.record(rec::kNorm, first); !st) return std::unexpected(st.error());
      if (auto st = cleanup.record(rec::kNorm, second); !st) return std::unexpected(st.error());
    }
  }
  return cleanup.finish();
}

std::vector<std::string> extract_recipients(const std::vector<std::string>& lines) {
  // Collect the header block, unfolded.
  std::vector<std::string> headers;
  for (const auto& line : lines) {
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && !headers.empty()) {
      headers.back() += " " + std::string(trim(line));
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0 ||
        line.find_first_of(" \t") < colon) {
      if (headers.empty() && istarts_with(line, "From ")) continue;
      break;  // not a header: the body starts here
    }
    headers.push_back(line);
  }
  bool resent = false;
  for (const auto& h : headers)
    if (istarts_with(h, "Resent-")) resent = true;
  std::vector<std::string> out;
  for (const auto& h : headers) {
    std::string_view name = trim(std::string_view(h).substr(0, h.find(':')));
    std::string_view base = name;
    if (resent) {
      if (!istarts_with(name, "Resent-")) continue;
      base = name.substr(7);
    }
    if (!iequals(base, "To") && !iequals(base, "Cc") && !iequals(base, "Bcc")) continue;
    for (const auto& a : parse_header_addresses(std::string_view(h).substr(h.find(':') + 1)))
      if (!a.address.empty()) out.push_back(a.address);
  }
  return out;
}

}  // namespace postern::submit
