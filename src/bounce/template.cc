#include "bounce/template.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/log.h"

namespace postern::bounce {

namespace {

// The built-in text. The header values and the first and last lines are
// what mail software recognises a notice by; the rest is our wording.
BounceTemplate make(std::string name, std::string subject, std::string pm_subject,
                    std::vector<std::string> body) {
  BounceTemplate t;
  t.name = std::move(name);
  t.charset = "us-ascii";
  t.from = "Mail Delivery System <MAILER-DAEMON>";
  t.subject = std::move(subject);
  t.postmaster_subject = std::move(pm_subject);
  t.text = {"This is the mail system at host $myhostname.", ""};
  for (auto& l : body) t.text.push_back(std::move(l));
  t.text.push_back("");
  t.text.push_back("                   The mail system");
  return t;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

BounceTemplate* find(BounceTemplates& all, std::string_view name) {
  if (name == "failure_template") return &all.failure;
  if (name == "delay_template") return &all.delay;
  if (name == "success_template") return &all.success;
  if (name == "verify_template") return &all.verify;
  return nullptr;
}

std::string short_name(const BounceTemplate& t) {
  return t.name.substr(0, t.name.find('_'));
}

// Applies one template body (headers, empty line, text) to `t`; false
// (with a warning) when the template must be ignored.
bool apply(BounceTemplate& t, const std::vector<std::string>& lines, const std::string& path,
           std::vector<std::string>* warnings) {
  BounceTemplate n = t;
  size_t i = 0;
  // Headers: "Name: value" lines up to the first empty line, when the
  // first line looks like one.
  auto is_header = [](const std::string& l) {
    size_t c = l.find(':');
    if (c == std::string::npos || c == 0) return false;
    for (size_t k = 0; k < c; ++k)
      if (!std::isalnum(static_cast<unsigned char>(l[k])) && l[k] != '-') return false;
    return true;
  };
  if (!lines.empty() && is_header(lines[0])) {
    for (; i < lines.size() && !lines[i].empty(); ++i) {
      const std::string& l = lines[i];
      size_t c = l.find(':');
      std::string label = c == std::string::npos ? l : l.substr(0, c);
      std::string value(c == std::string::npos ? "" : trim(std::string_view(l).substr(c + 1)));
      std::string key = lower(label);
      bool pm_ok = t.name == "failure_template" || t.name == "delay_template";
      if (key == "charset") n.charset = value;
      else if (key == "from") n.from = value;
      else if (key == "subject") n.subject = value;
      else if (key == "postmaster-subject" && pm_ok) n.postmaster_subject = value;
      else {
        warnings->push_back(path + ": unknown \"" + label + "\" header label in " + short_name(t) +
                            " template -- ignoring this template");
        return false;
      }
    }
    while (i < lines.size() && lines[i].empty()) ++i;
  }
  n.text.assign(lines.begin() + static_cast<long>(i), lines.end());
  while (!n.text.empty() && trim(n.text.back()).empty()) n.text.pop_back();
  if (n.text.empty()) {
    warnings->push_back(path + ": missing message text in " + short_name(t) +
                        " template -- ignoring this template");
    return false;
  }
  t = std::move(n);
  return true;
}

const struct {
  const char* suffix;
  long long seconds;
} kUnits[] = {{"seconds", 1}, {"minutes", 60}, {"hours", 3600}, {"days", 86400}, {"weeks", 604800}};

}  // namespace

const BounceTemplate& BounceTemplates::get(TemplateKind k) const {
  switch (k) {
    case TemplateKind::kFailure: return failure;
    case TemplateKind::kDelay: return delay;
    case TemplateKind::kSuccess: return success;
    case TemplateKind::kVerify: return verify;
  }
  return failure;
}

BounceTemplates default_templates() {
  BounceTemplates t;
  t.failure = make("failure_template", "Undelivered Mail Returned to Sender",
                   "Postmaster Copy: Undelivered Mail",
                   {"Your message could not be delivered to one or more recipients.",
                    "The returned message is attached below.", "",
                    "For further assistance, please send mail to postmaster, and include",
                    "this problem report."});
  t.delay = make("delay_template", "Delayed Mail (still being retried)",
                 "Postmaster Warning: Delayed Mail",
                 {"Your message could not be delivered yet to one or more recipients.",
                  "This is a warning only: you need not send the message again.", "",
                  "Delivery has been failing for more than $delay_warning_time_hours hour(s).",
                  "The mail system keeps trying until the message is $maximal_queue_lifetime_days day(s) old.",
                  "", "For further assistance, please send mail to postmaster, and include",
                  "this problem report."});
  t.success = make("success_template", "Successful Mail Delivery Report", "",
                   {"Your message was successfully delivered to the destination(s)",
                    "listed below. Where the report says \"delivered\", the message reached",
                    "the recipient's mailbox; where it says \"relayed\", another mail system",
                    "took it over and may still report delivery problems."});
  t.verify = make("verify_template", "Mail Delivery Status Report", "",
                  {"Here is the mail delivery status report that you asked for."});
  return t;
}

Result<BounceTemplates> parse_templates(std::string_view text, const std::string& path,
                                        std::vector<std::string>* warnings) {
  BounceTemplates all = default_templates();
  std::istringstream in{std::string(text)};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string_view t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    size_t eq = t.find('=');
    size_t lt = t.find("<<");
    if (eq == std::string_view::npos || lt == std::string_view::npos || lt < eq)
      return fail(Errc::kInvalid, path + ", line " + std::to_string(lineno) +
                                      ": expected \"name = <<EOF\" but found: " + std::string(t));
    std::string name(trim(t.substr(0, eq)));
    std::string marker(trim(t.substr(lt + 2)));
    if (marker.empty() || !trim(t.substr(eq + 1, lt - eq - 1)).empty())
      return fail(Errc::kInvalid, path + ", line " + std::to_string(lineno) +
                                      ": malformed template start: " + std::string(t));
    std::vector<std::string> body;
    bool closed = false;
    while (std::getline(in, line)) {
      ++lineno;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line == marker) {
        closed = true;
        break;
      }
      body.push_back(line);
    }
    if (!closed)
      return fail(Errc::kInvalid, path + ", line " + std::to_string(lineno) + ": missing \"" + marker +
                                      "\" end marker for " + name);
    BounceTemplate* tp = find(all, name);
    if (!tp) {
      warnings->push_back(path + ", line " + std::to_string(lineno) + ": unknown template name: " +
                          name + " -- ignoring this template");
      continue;
    }
    (void)apply(*tp, body, path, warnings);
  }
  return all;
}

Result<BounceTemplates> load_templates(const std::string& path, std::vector<std::string>* warnings) {
  std::ifstream f(path);
  if (!f) return fail(Errc::kNotFound, "open " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  if (text.size() > (1 << 20)) return fail(Errc::kInvalid, path + ": file too large");
  return parse_templates(text, path, warnings);
}

BounceTemplates templates_from_config(const Config& cfg) {
  std::string path = cfg.get("bounce_template_file");
  if (path.empty()) return default_templates();
  std::vector<std::string> warnings;
  auto t = load_templates(path, &warnings);
  for (const auto& w : warnings) log::warn("{}", w);
  if (!t) {
    log::warn("{} -- using the built-in templates", t.error().text);
    return default_templates();
  }
  return *t;
}

Result<std::vector<std::string>> expand_text(const BounceTemplate& t, const Config& cfg,
                                             std::vector<std::string>* warnings) {
  std::vector<std::string> out;
  for (const auto& line : t.text) {
    std::string o;
    for (size_t i = 0; i < line.size();) {
      if (line[i] != '$') {
        o += line[i++];
        continue;
      }
      if (i + 1 < line.size() && line[i + 1] == '$') {
        o += '$';
        i += 2;
        continue;
      }
      std::string name;
      size_t next;
      if (i + 1 < line.size() && (line[i + 1] == '{' || line[i + 1] == '(')) {
        char close = line[i + 1] == '{' ? '}' : ')';
        size_t e = line.find(close, i + 2);
        if (e == std::string::npos) {
          o += line[i++];
          continue;
        }
        name = line.substr(i + 2, e - i - 2);
        next = e + 1;
      } else {
        size_t e = i + 1;
        while (e < line.size() && (std::isalnum(static_cast<unsigned char>(line[e])) || line[e] == '_')) ++e;
        if (e == i + 1) {
          o += line[i++];
          continue;
        }
        name = line.substr(i + 1, e - i - 1);
        next = e;
      }
      bool done = false;
      for (std::string_view base : {"delay_warning_time", "maximal_queue_lifetime"}) {
        for (const auto& u : kUnits) {
          if (name == std::string(base) + "_" + u.suffix) {
            long long v = cfg.get_time(base) / u.seconds;
            if (v == 0)
              warnings->push_back(short_name(t) + " template: zero result in conversion of parameter \"" +
                                  name + "\"; please reduce its time unit \"" + u.suffix + "\"");
            o += std::to_string(v);
            done = true;
          }
        }
      }
      if (!done) {
        if (!cfg.raw(name) && !cfg.is_known(name))
          return fail(Errc::kInvalid, "undefined $name in " + short_name(t) + " template: " + line);
        auto v = cfg.expand(name);
        o += v ? *v : cfg.get(name);
      }
      i = next;
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::string format_template(const BounceTemplate& t) {
  std::string s = t.name + " = <<EOF\n";
  s += "Charset: " + t.charset + "\n";
  s += "From: " + t.from + "\n";
  s += "Subject: " + t.subject + "\n";
  if (!t.postmaster_subject.empty()) s += "Postmaster-Subject: " + t.postmaster_subject + "\n";
  s += "\n";
  for (const auto& l : t.text) s += l + "\n";
  return s + "EOF\n";
}

std::string format_expanded(const BounceTemplate& t, const std::vector<std::string>& lines) {
  std::string s = "expanded_" + short_name(t) + "_text = <<EOF\n";
  for (const auto& l : lines) s += l + "\n";
  return s + "EOF\n";
}

}  // namespace postern::bounce
