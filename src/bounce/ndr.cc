#include "bounce/ndr.h"

#include <cstdlib>

#include "global/dsn.h"

namespace postern::bounce {

std::vector<LogRecord> parse_status_log(std::string_view text) {
  std::vector<LogRecord> out;
  LogRecord cur;
  bool any = false;
  auto flush = [&] {
    if (any && !cur.recipient.empty()) out.push_back(cur);
    cur = LogRecord{};
    any = false;
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) {
      flush();
      if (nl >= text.size()) break;
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(line.substr(0, eq));
    std::string value(line.substr(eq + 1));
    any = true;
    if (name == "recipient") cur.recipient = value;
    else if (name == "original_recipient") cur.orig = value;
    else if (name == "dsn_orig_rcpt") cur.dsn_orcpt = value;
    else if (name == "status") cur.status = value;
    else if (name == "action") cur.action = value;
    else if (name == "reason") cur.reason = value;
    else if (name == "diag_type") cur.dtype = value;
    else if (name == "diag_text") cur.dtext = value;
    else if (name == "mta_type") cur.mtype = value;
    else if (name == "mta_mname") cur.mname = value;
    else if (name == "offset") cur.offset = std::atol(value.c_str());
    else if (name == "notify_flags") cur.notify_flags = std::atoi(value.c_str());
  }
  flush();
  return out;
}

bool wants_notice(const LogRecord& r, int kind) {
  if (r.notify_flags == 0) return kind != kDsnNotifySuccess;
  return (r.notify_flags & kind) != 0;
}

std::vector<std::string> ndr_head(const NdrInfo& in, const std::vector<LogRecord>& rcpts) {
  std::vector<std::string> l;
  l.push_back("Received: by " + in.myhostname + " (" + in.mail_name + ")");
  l.push_back("\tid " + in.new_id + "; " + in.date);
  l.push_back("Date: " + in.date);
  l.push_back("From: " + (in.from.empty() ? "MAILER-DAEMON@" + in.myhostname + " (Mail Delivery System)" : in.from));
  if (!in.subject.empty())
    l.push_back("Subject: " + in.subject);
  else if (in.postmaster_copy)
    l.push_back(in.delay ? "Subject: Postmaster Warning: Delayed Mail"
                         : "Subject: Postmaster Copy: Undelivered Mail");
  else
    l.push_back(in.verify ? "Subject: Mail Delivery Status Report"
                : in.success ? "Subject: Successful Mail Delivery Report"
                : in.delay ? "Subject: Delayed Mail (still being retried)"
                           : "Subject: Undelivered Mail Returned to Sender");
  l.push_back("To: " + (in.to.empty() ? in.sender : in.to));
  // Postfix: notices to the sender are replies, postmaster copies are not.
  l.push_back(in.postmaster_copy ? "Auto-Submitted: auto-generated" : "Auto-Submitted: auto-replied");
  l.push_back("MIME-Version: 1.0");
  l.push_back("Content-Type: multipart/report; report-type=delivery-status;");
  l.push_back("\tboundary=\"" + in.boundary + "\"");
  l.push_back("Content-Transfer-Encoding: 8bit");
  l.push_back("");
  l.push_back("This is a MIME-encapsulated message.");
  l.push_back("");
  l.push_back("--" + in.boundary);
  l.push_back("Content-Description: Notification");
  l.push_back("Content-Type: text/plain; charset=" + in.charset);
  if (!in.text.empty() || in.postmaster_copy) l.push_back("Content-Transfer-Encoding: 8bit");
  l.push_back("");
  if (!in.text.empty() || in.postmaster_copy) {
    // The template text; postmaster copies carry only the recipients.
    if (!in.postmaster_copy)
      for (const auto& t : in.text) l.push_back(t);
  } else {
    l.push_back("This is the mail system at host " + in.myhostname + ".");
    l.push_back("");
    if (in.success) {
      l.push_back("Your message was successfully delivered to the destination(s)");
      l.push_back("listed below. The headers of the message are attached below.");
    } else if (in.delay) {
      l.push_back("Your message could not be delivered yet to one or more recipients.");
      l.push_back("The mail system will keep trying; you need not send it again.");
      l.push_back("The headers of the message are attached below.");
    } else {
      l.push_back("Your message could not be delivered to one or more recipients.");
      l.push_back("The returned message is attached below.");
    }
    l.push_back("");
    l.push_back("For further assistance, please send mail to postmaster, and include");
    l.push_back("this problem report.");
    l.push_back("");
    l.push_back("                   The mail system");
  }
  for (const auto& r : rcpts) {
    l.push_back("");
    l.push_back("<" + r.recipient + ">: " + r.reason);
  }
  l.push_back("");
  l.push_back("--" + in.boundary);
  l.push_back("Content-Description: Delivery report");
  l.push_back("Content-Type: message/delivery-status");
  l.push_back("");
  l.push_back("Reporting-MTA: dns; " + in.myhostname);
  l.push_back("X-Postfix-Queue-ID: " + in.queue_id);
  l.push_back("X-Postfix-Sender: rfc822; " + in.sender);
  l.push_back("Arrival-Date: " + in.arrival_date);
  for (const auto& r : rcpts) {
    l.push_back("");
    l.push_back("Final-Recipient: rfc822; " + r.recipient);
    if (r.dsn_orcpt.size() > 7 && r.dsn_orcpt.starts_with("rfc822;"))
      l.push_back("Original-Recipient: rfc822;" + r.dsn_orcpt.substr(7));
    else if (!r.orig.empty())
      l.push_back("Original-Recipient: rfc822;" + r.orig);
    l.push_back("Action: " + (r.action.empty() ? std::string(in.success ? "delivered" : in.delay ? "delayed" : "failed") : r.action));
    l.push_back("Status: " + r.status);
    if (!r.mtype.empty() && !r.mname.empty()) l.push_back("Remote-MTA: " + r.mtype + "; " + r.mname);
    if (!r.dtype.empty())
      l.push_back("Diagnostic-Code: " + r.dtype + "; " + r.dtext);
    else
      l.push_back("Diagnostic-Code: X-Postfix; " + r.reason);
    if (in.delay && !in.retry_until.empty()) l.push_back("Will-Retry-Until: " + in.retry_until);
  }
  l.push_back("");
  l.push_back("--" + in.boundary);
  if (in.postmaster_copy && !in.delay) {
    l.push_back("Content-Description: Undelivered Message Headers");
    l.push_back("Content-Type: text/rfc822-headers");
  } else if (in.success) {
    l.push_back("Content-Description: Message Headers");
    l.push_back("Content-Type: text/rfc822-headers");
  } else if (in.delay) {
    l.push_back("Content-Description: Undelivered Message Headers");
    l.push_back("Content-Type: text/rfc822-headers");
  } else {
    l.push_back("Content-Description: Undelivered Message");
    l.push_back("Content-Type: message/rfc822");
  }
  l.push_back("Content-Transfer-Encoding: 8bit");
  l.push_back("");
  return l;
}

std::vector<std::string> ndr_tail(const NdrInfo& in) {
  return {"", "--" + in.boundary + "--"};
}

}  // namespace postern::bounce
