// postconf: master.cf entries (-M), fields (-F) and -o parameters (-P),
// printed and edited (-e, -#, -X).
#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "postconf/postconf.h"
#include "util/files.h"
#include "util/log.h"
#include "util/stream.h"
#include "util/strings.h"

namespace postern::postconf {
namespace {

constexpr const char* kFieldNames[] = {"service", "type",   "private",       "unprivileged",
                                       "chroot",  "wakeup", "process_limit", "command"};

// An argument as -M prints it: "{text}" when it holds white space, and
// "-o" values as name=value without spaces around '='.
std::string format_arg(const std::string& arg, bool after_o) {
  std::string text = arg;
  if (after_o) {
    size_t eq = text.find('=');
    if (eq != std::string::npos)
      text = std::string(trim(text.substr(0, eq))) + "=" + std::string(trim(text.substr(eq + 1)));
  }
  if (text.find_first_of(" \t") != std::string::npos) return "{" + text + "}";
  return text;
}

std::string command_text(const MasterService& s) {
  std::string out;
  for (size_t i = 0; i < s.command.size(); ++i) {
    if (i) out += ' ';
    out += format_arg(s.command[i], i > 0 && s.command[i - 1] == "-o");
  }
  return out;
}

// Fields at columns 0, 11, 17, 25, 33, 41, 49, 57; a long field pushes
// the next one to one space after it.
std::string format_entry(const MasterService& s) {
  static const size_t kColumns[] = {0, 11, 17, 25, 33, 41, 49, 57};
  const std::string fields[] = {s.name,         s.type,          s.private_field,
                                s.unpriv_field, s.chroot_field,  s.wakeup_field,
                                s.maxproc_field, command_text(s)};
  std::string line;
  for (size_t i = 0; i < 8; ++i) {
    size_t col = i == 0 ? 0 : std::max(kColumns[i], line.size() + 1);
    line.resize(col, ' ');
    line += fields[i];
  }
  return line;
}

std::string field_value(const MasterService& s, std::string_view field) {
  if (field == "service") return s.name;
  if (field == "type") return s.type;
  if (field == "private") return s.private_field;
  if (field == "unprivileged") return s.unpriv_field;
  if (field == "chroot") return s.chroot_field;
  if (field == "wakeup") return s.wakeup_field;
  if (field == "process_limit") return s.maxproc_field;
  return command_text(s);
}

bool is_field_name(std::string_view f) {
  return std::find(std::begin(kFieldNames), std::end(kFieldNames), f) != std::end(kFieldNames);
}

bool glob_match(std::string_view pattern, std::string_view value) {
  return pattern == "*" || pattern == value;
}

// "service[/type]" matches an entry.
bool service_matches(std::string_view pattern, const MasterService& s) {
  size_t slash = pattern.find('/');
  std::string_view name = pattern.substr(0, slash);
  std::string_view type = slash == std::string_view::npos ? "*" : pattern.substr(slash + 1);
  return glob_match(name, s.name) && glob_match(type, s.type);
}

// "service/type/rest": rest is a field (-F) or a parameter name (-P).
struct Path3 {
  std::string service, type, rest, value;
  bool has_value = false;
};

Path3 parse_path3(const std::string& arg, bool allow_value) {
  Path3 p;
  std::string_view text = arg;
  if (allow_value) {
    size_t eq = text.find('=');
    if (eq != std::string_view::npos) {
      p.value = std::string(trim(text.substr(eq + 1)));
      p.has_value = true;
      text = trim(text.substr(0, eq));
    }
  }
  auto parts = split(text, "/");
  if (parts.size() >= 1) p.service = parts[0];
  if (parts.size() >= 2) p.type = parts[1];
  if (parts.size() >= 3) p.rest = parts[2];
  return p;
}

// Rewrites master.cf: `replace` maps an entry's key to its new text (empty
// to remove, "#" to comment out); entries not found are appended.
void rewrite_master_cf(const Config& cfg,
                       const std::vector<std::pair<std::string, std::string>>& replace) {
  std::string path = cfg.master_cf_path();
  auto text = read_file(path, 16 << 20);
  if (!text && text.error().code != Errc::kNotFound) log::fatal("{}", text.error().text);
  std::string in = text ? *text : std::string();
  std::string out;
  std::vector<bool> used(replace.size(), false);
  const std::string* action = nullptr;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t nl = in.find('\n', pos);
    std::string line = in.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? in.size() : nl + 1;
    std::string_view t = trim_left(line);
    bool comment = t.empty() || t.front() == '#';
    bool continuation = !comment && (line[0] == ' ' || line[0] == '\t');
    if (!comment && !continuation) {
      action = nullptr;
      auto fields = split(line, " \t");
      if (fields.size() >= 2) {
        std::string key = std::string(fields[0]) + "/" + std::string(fields[1]);
        for (size_t i = 0; i < replace.size(); ++i) {
          if (replace[i].first != key) continue;
          action = &replace[i].second;
          if (*action != "#" && !action->empty() && !used[i]) out += *action + "\n";
          used[i] = true;
        }
      }
    }
    if (action && !comment) {
      if (*action == "#") out += "#" + line + "\n";
      continue;
    }
    out += line + "\n";
  }
  for (size_t i = 0; i < replace.size(); ++i)
    if (!used[i] && !replace[i].second.empty() && replace[i].second != "#")
      out += replace[i].second + "\n";
  if (auto w = replace_file_atomically(path, out); !w) log::fatal("{}", w.error().text);
}

const MasterService* find_service(const Config& cfg, std::string_view name, std::string_view type) {
  for (const auto& s : cfg.master_services())
    if (s.name == name && s.type == type) return &s;
  return nullptr;
}

std::string folded_entry(const MasterService& s) { return fold_line(format_entry(s), true); }

int master_entries(const Options& opts, const Config& cfg) {
  const auto& services = cfg.master_services();
  if (opts.edit || (!opts.comment_out && !opts.remove && !opts.args.empty() &&
                    opts.args[0].find('=') != std::string::npos)) {
    std::vector<std::pair<std::string, std::string>> replace;
    for (const auto& arg : opts.args) {
      size_t eq = arg.find('=');
      if (eq == std::string::npos) log::fatal("-Me requires service/type=entry: {}", arg);
      auto entry = parse_master_entry(arg.substr(eq + 1));
      if (!entry) log::fatal("{}: {}", arg, entry.error().text);
      std::string key = std::string(trim(arg.substr(0, eq)));
      if (key != entry->key())
        log::fatal("-M: service name/type \"{}\" does not match entry \"{}\"", key, entry->key());
      replace.emplace_back(key, folded_entry(*entry));
    }
    rewrite_master_cf(cfg, replace);
    return 0;
  }
  if (opts.comment_out || opts.remove) {
    std::vector<std::pair<std::string, std::string>> replace;
    for (const auto& arg : opts.args) {
      bool any = false;
      for (const auto& s : services) {
        if (!service_matches(arg, s)) continue;
        replace.emplace_back(s.key(), opts.comment_out ? "#" : "");
        any = true;
      }
      if (!any) log::warn("unmatched request: \"{}\"", arg);
    }
    if (!replace.empty()) rewrite_master_cf(cfg, replace);
    return 0;
  }
  std::vector<bool> matched(opts.args.size(), false);
  std::string out;
  for (const auto& s : services) {
    bool show = opts.args.empty();
    for (size_t i = 0; i < opts.args.size(); ++i)
      if (service_matches(opts.args[i], s)) show = matched[i] = true;
    if (show) out += (opts.fold ? folded_entry(s) : format_entry(s)) + "\n";
  }
  for (size_t i = 0; i < opts.args.size(); ++i)
    if (!matched[i]) log::warn("unmatched request: \"{}\"", opts.args[i]);
  std::fputs(out.c_str(), stdout);
  return 0;
}

int master_fields(const Options& opts, const Config& cfg) {
  bool editing = opts.edit || (!opts.args.empty() && opts.args[0].find('=') != std::string::npos);
  if (editing) {
    std::vector<std::pair<std::string, std::string>> replace;
    for (const auto& arg : opts.args) {
      Path3 p = parse_path3(arg, true);
      if (!p.has_value || p.rest.empty()) log::fatal("-Fe requires service/type/field=value: {}", arg);
      if (!is_field_name(p.rest)) log::fatal("invalid field name: \"{}\"", p.rest);
      const MasterService* s = find_service(cfg, p.service, p.type);
      if (!s) {
        log::warn("unmatched request: \"{}/{}\"", p.service, p.type);
        continue;
      }
      MasterService copy = *s;
      std::string* field = p.rest == "service"       ? &copy.name
                           : p.rest == "type"         ? &copy.type
                           : p.rest == "private"      ? &copy.private_field
                           : p.rest == "unprivileged" ? &copy.unpriv_field
                           : p.rest == "chroot"       ? &copy.chroot_field
                           : p.rest == "wakeup"       ? &copy.wakeup_field
                           : p.rest == "process_limit" ? &copy.maxproc_field
                                                       : nullptr;
      std::string line = format_entry(copy);
      if (field) {
        *field = p.value;
        line = format_entry(copy);
      } else {
        std::string head = format_entry(copy);
        head = head.substr(0, head.size() - command_text(copy).size());
        line = head + p.value;
      }
      auto check = parse_master_entry(line);
      if (!check) log::fatal("{}: {}", arg, check.error().text);
      replace.emplace_back(s->key(), folded_entry(*check));
    }
    if (!replace.empty()) rewrite_master_cf(cfg, replace);
    return 0;
  }
  std::vector<std::string> patterns = opts.args;
  if (patterns.empty()) patterns.push_back("*/*/*");
  std::string out;
  for (const auto& pat : patterns) {
    Path3 p = parse_path3(pat, false);
    if (p.type.empty()) p.type = "*";
    if (p.rest.empty()) p.rest = "*";
    if (p.rest != "*" && !is_field_name(p.rest)) log::fatal("invalid field name: \"{}\"", p.rest);
    bool any = false;
    for (const auto& s : cfg.master_services()) {
      if (!glob_match(p.service, s.name) || !glob_match(p.type, s.type)) continue;
      any = true;
      for (const char* f : kFieldNames) {
        if (!glob_match(p.rest, f)) continue;
        std::string line = fmt::format("{}/{}/{} = {}", s.name, s.type, f, field_value(s, f));
        out += (opts.hide_name ? field_value(s, f) : line) + "\n";
      }
    }
    if (!any) log::warn("unmatched request: \"{}\"", pat);
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

// Rebuilds an entry's command with its -o overrides changed.
MasterService with_overrides(const MasterService& s,
                             const std::vector<std::pair<std::string, std::string>>& params) {
  MasterService copy = s;
  std::vector<std::string> args{s.command.front()};
  for (const auto& [n, v] : params) {
    args.push_back("-o");
    args.push_back(n + "=" + v);
  }
  for (size_t i = 1; i < s.command.size(); ++i) {
    if (s.command[i] == "-o" && i + 1 < s.command.size()) {
      ++i;
      continue;
    }
    args.push_back(s.command[i]);
  }
  copy.command = args;
  return copy;
}

int master_params(const Options& opts, const Config& cfg) {
  bool editing = opts.edit || opts.remove ||
                 (!opts.args.empty() && opts.args[0].find('=') != std::string::npos);
  if (editing) {
    std::vector<std::pair<std::string, std::string>> replace;
    std::vector<MasterService> changed;
    for (const auto& arg : opts.args) {
      Path3 p = parse_path3(arg, !opts.remove);
      if (p.rest.empty() || (!opts.remove && !p.has_value))
        log::fatal("-P{} requires service/type/parameter{}: {}", opts.remove ? "X" : "e",
                   opts.remove ? "" : "=value", arg);
      MasterService* target = nullptr;
      for (auto& c : changed)
        if (c.name == p.service && c.type == p.type) target = &c;
      if (!target) {
        const MasterService* s = find_service(cfg, p.service, p.type);
        if (!s) {
          log::warn("unmatched request: \"{}/{}\"", p.service, p.type);
          continue;
        }
        changed.push_back(*s);
        target = &changed.back();
      }
      auto params = target->overrides();
      auto it = std::find_if(params.begin(), params.end(),
                             [&](const auto& nv) { return nv.first == p.rest; });
      if (opts.remove) {
        if (it != params.end()) params.erase(it);
      } else if (it != params.end()) {
        it->second = p.value;
      } else {
        params.emplace_back(p.rest, p.value);
      }
      *target = with_overrides(*target, params);
    }
    for (const auto& c : changed) replace.emplace_back(c.key(), folded_entry(c));
    if (!replace.empty()) rewrite_master_cf(cfg, replace);
    return 0;
  }
  std::vector<std::string> patterns = opts.args;
  if (patterns.empty()) patterns.push_back("*/*/*");
  std::string out;
  for (const auto& pat : patterns) {
    Path3 p = parse_path3(pat, false);
    if (p.type.empty()) p.type = "*";
    if (p.rest.empty()) p.rest = "*";
    for (const auto& s : cfg.master_services()) {
      if (!glob_match(p.service, s.name) || !glob_match(p.type, s.type)) continue;
      auto params = s.overrides();
      std::stable_sort(params.begin(), params.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [n, v] : params) {
        if (!glob_match(p.rest, n)) continue;
        std::string value = collapse_whitespace(v);
        std::string key = fmt::format("{}/{}/{}", s.name, s.type, n);
        out += opts.hide_name ? value + "\n" : value.empty() ? key + " =\n" : key + " = " + value + "\n";
      }
    }
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

int run_master_cf(const Options& opts, Config& cfg) {
  if (!cfg.main_cf_entries().empty()) warn_about_main_cf(cfg);
  if (!cfg.master_cf_error().empty() && !opts.edit && opts.args.empty())
    log::fatal("{}", cfg.master_cf_error());
  if (opts.master) return master_entries(opts, cfg);
  if (opts.master_field) return master_fields(opts, cfg);
  return master_params(opts, cfg);
}

}  // namespace postern::postconf
