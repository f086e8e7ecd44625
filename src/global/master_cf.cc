#include "global/master_cf.h"

#include <fmt/format.h>

#include "global/main_cf.h"
#include "util/strings.h"

namespace postern {
namespace {

// Splits fields on white space, keeping "{ ... }" groups (with braces).
std::vector<std::string> split_fields(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    size_t start = i;
    if (line[i] == '{') {
      int depth = 0;
      for (; i < line.size(); ++i) {
        if (line[i] == '{') ++depth;
        if (line[i] == '}' && --depth == 0) {
          ++i;
          break;
        }
      }
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    }
    out.emplace_back(line.substr(start, i - start));
  }
  return out;
}

std::string unbrace(std::string_view arg) {
  if (arg.size() >= 2 && arg.front() == '{' && arg.back() == '}')
    return std::string(trim(arg.substr(1, arg.size() - 2)));
  return std::string(arg);
}

bool field_yes(const std::string& field, bool dflt) {
  if (field == "-") return dflt;
  return field == "y" || field == "yes";
}

bool valid_yn(const std::string& field) {
  return field == "-" || field == "y" || field == "n" || field == "yes" || field == "no";
}

}  // namespace

bool is_valid_service_type(std::string_view type) {
  return type == "inet" || type == "unix" || type == "unix-dgram" || type == "fifo" ||
         type == "pass";
}

bool MasterService::is_private() const { return type != "inet" && field_yes(private_field, true); }
bool MasterService::is_unprivileged() const { return field_yes(unpriv_field, true); }
bool MasterService::is_chrooted() const { return field_yes(chroot_field, false); }

int MasterService::wakeup_seconds() const {
  std::string_view w = wakeup_field;
  if (w == "-") return 0;
  if (!w.empty() && w.back() == '?') w.remove_suffix(1);
  return static_cast<int>(parse_long(w).value_or(0));
}

bool MasterService::wakeup_after_use() const {
  return !wakeup_field.empty() && wakeup_field.back() == '?';
}

int MasterService::maxproc() const {
  if (maxproc_field == "-") return -1;
  return static_cast<int>(parse_long(maxproc_field).value_or(-1));
}

std::vector<std::pair<std::string, std::string>> MasterService::overrides() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 1; i < command.size(); ++i) {
    std::string_view arg = command[i];
    std::string_view nv;
    if (arg == "-o" && i + 1 < command.size()) {
      nv = command[++i];
    } else if (arg.starts_with("-o") && arg.size() > 2) {
      nv = arg.substr(2);
    } else {
      continue;
    }
    size_t eq = nv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace_back(std::string(trim(nv.substr(0, eq))), std::string(trim(nv.substr(eq + 1))));
  }
  return out;
}

Result<MasterService> parse_master_entry(std::string_view line) {
  auto fields = split_fields(line);
  if (fields.size() < 8)
    return fail(Errc::kInvalid, fmt::format("missing {} field", fields.size() < 2 ? "type" : "command"));
  MasterService s;
  s.name = fields[0];
  s.type = fields[1];
  s.private_field = fields[2];
  s.unpriv_field = fields[3];
  s.chroot_field = fields[4];
  s.wakeup_field = fields[5];
  s.maxproc_field = fields[6];
  if (!is_valid_service_type(s.type))
    return fail(Errc::kInvalid, fmt::format("unknown service type: \"{}\"", s.type));
  for (const std::string* f : {&s.private_field, &s.unpriv_field, &s.chroot_field})
    if (!valid_yn(*f)) return fail(Errc::kInvalid, fmt::format("bad boolean field value: \"{}\"", *f));
  std::string_view wake = s.wakeup_field;
  if (wake != "-") {
    if (!wake.empty() && wake.back() == '?') wake.remove_suffix(1);
    if (!parse_ulong(wake))
      return fail(Errc::kInvalid, fmt::format("bad wakeup field value: \"{}\"", s.wakeup_field));
  }
  if (s.maxproc_field != "-" && !parse_ulong(s.maxproc_field))
    return fail(Errc::kInvalid, fmt::format("bad process limit field value: \"{}\"", s.maxproc_field));
  for (size_t i = 7; i < fields.size(); ++i) {
    s.raw_args.push_back(fields[i]);
    s.command.push_back(unbrace(fields[i]));
  }
  if (s.command.front().empty()) return fail(Errc::kInvalid, "missing command field");
  return s;
}

std::vector<MasterService> effective_services(std::vector<MasterService> services) {
  std::vector<MasterService> out;
  for (auto& s : services) {
    std::erase_if(out, [&](const MasterService& old) { return old.key() == s.key(); });
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<MasterService>> parse_master_cf(std::string_view text, std::string_view path) {
  std::vector<MasterService> services;
  for (const LogicalLine& l : read_logical_lines(text)) {
    auto s = parse_master_entry(l.text);
    if (!s) return fail(Errc::kInvalid, fmt::format("file {}: line {}: {}", path, l.line, s.error().text));
    s->line = l.line;
    services.push_back(std::move(*s));
  }
  return services;
}

}  // namespace postern
