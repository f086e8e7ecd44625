// postconf: printing (all, -n, -d, names; -h -H -x -f) and editing
// (-e, -#, -X) of main.cf parameters.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "global/expand.h"
#include "global/main_cf.h"
#include "postconf/postconf.h"
#include "util/files.h"
#include "util/log.h"
#include "util/stream.h"
#include "util/strings.h"

namespace postern::postconf {
namespace {

// Names that main.cf may define although Postern does not know them:
// those referenced with $name from main.cf or master.cf, and restriction
// class names.
std::set<std::string, std::less<>> user_defined_names(const Config& cfg) {
  std::set<std::string, std::less<>> names;
  auto add_refs = [&](std::string_view value) {
    for (auto& n : referenced_names(value)) names.insert(n);
  };
  for (const auto& e : cfg.main_cf_entries()) {
    if (!is_raw_parameter(e.name)) add_refs(e.value);
  }
  for (const auto& s : cfg.master_services())
    for (const auto& [n, v] : s.overrides()) add_refs(v);
  if (auto classes = cfg.raw("smtpd_restriction_classes"); classes) {
    auto expanded = cfg.expand_text(*classes);
    for (auto c : split(expanded.value_or(*classes))) names.emplace(c);
  }
  add_dbms_parameter_names(cfg, names);
  return names;
}

bool is_legitimate(const Config& cfg, const std::set<std::string, std::less<>>& user,
                   std::string_view name) {
  return cfg.is_known(name) || user.count(name);
}

}  // namespace

// The warnings Postfix gives about main.cf: duplicates, unused and undefined names.
void warn_about_main_cf(const Config& cfg) {
  auto user = user_defined_names(cfg);
  for (const auto& w : cfg.load_warnings()) log::warn("{}", w);
  warn_about_dbms_files(cfg);
  std::string path = cfg.main_cf_path();
  std::set<std::string> warned;
  for (const auto& e : cfg.main_cf_entries()) {
    if (is_raw_parameter(e.name)) continue;
    for (const auto& ref : referenced_names(e.value)) {
      if (cfg.raw(ref) || !warned.insert(ref).second) continue;
      log::warn("{}: undefined parameter: {}", path, ref);
    }
  }
  for (const auto& e : cfg.main_cf_entries()) {
    if (is_legitimate(cfg, user, e.name)) continue;
    if (cfg.main_cf_value(e.name) != e.value) continue;  // report the last definition
    log::warn("{}: unused parameter: {}={}", path, e.name, e.value);
  }
}

namespace {

std::string format_param(const Options& opts, const std::string& name, std::string value) {
  value = collapse_whitespace(value);
  if (opts.name_only) return name;
  if (opts.hide_name) return value;
  std::string line = value.empty() ? name + " =" : name + " = " + value;
  return opts.fold ? fold_line(line) : line;
}

int print_params(const Options& opts, const Config& cfg) {
  auto user = user_defined_names(cfg);
  if (!opts.defaults || !cfg.main_cf_entries().empty()) warn_about_main_cf(cfg);

  std::vector<std::string> names;
  if (!opts.args.empty()) {
    names = opts.args;
  } else if (opts.non_default) {
    for (const auto& e : cfg.main_cf_entries())
      if (is_legitimate(cfg, user, e.name)) names.push_back(e.name);
    if (auto dir = cfg.main_cf_value("config_directory"); dir &&
        std::find(names.begin(), names.end(), "config_directory") == names.end())
      names.push_back("config_directory");
  } else {
    for (const auto& p : static_params()) names.emplace_back(p.name);
    for (const auto& t : cfg.transport_params()) names.push_back(t.name);
    if (!opts.defaults)
      for (const auto& n : user) if (cfg.main_cf_value(n)) names.push_back(n);
  }
  if (opts.args.empty()) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
  }

  // -d -x expands defaults against defaults only.
  Config defaults = cfg.defaults_only();
  ParamLookup default_lookup = [&](std::string_view n) { return defaults.default_value(n); };
  std::string out;
  for (const auto& name : names) {
    std::optional<std::string> value;
    if (opts.defaults) {
      value = defaults.default_value(name);
    } else if (is_legitimate(cfg, user, name)) {
      value = cfg.raw(name);
    }
    if (!value) {
      log::warn("{}: unknown parameter", name);
      continue;
    }
    if (opts.expand && !is_raw_parameter(name)) {
      Result<std::string> expanded =
          opts.defaults ? expand_value(*value, default_lookup) : cfg.expand_text(*value);
      if (!expanded) {
        log::warn("{}", expanded.error().text);
        log::fatal("macro processing error");
      }
      value = *expanded;
    }
    out += format_param(opts, name, *value);
    out += '\n';
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

// A value typed as 'name = a, \<newline>   b' inside shell quotes: the
// backslash-newline and the indentation become one space, as the shell
// would have made it without the quotes.
std::string join_escaped_newlines(std::string_view arg) {
  std::string out;
  for (size_t i = 0; i < arg.size(); ++i) {
    if (arg[i] == '\\' && i + 1 < arg.size() && arg[i + 1] == '\n') {
      i += 2;
      while (i < arg.size() && (arg[i] == ' ' || arg[i] == '\t')) ++i;
      --i;
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += arg[i];
  }
  return out;
}

int edit_params(const Options& opts, const Config& cfg) {
  MainCfEdit edit;
  if (opts.comment_out) edit.action = MainCfEdit::Action::kCommentOut;
  if (opts.remove) edit.action = MainCfEdit::Action::kRemove;
  for (const auto& raw_arg : opts.args) {
    std::string arg = join_escaped_newlines(raw_arg);
    if (arg.find('\n') != std::string::npos)
      log::fatal("-e, -X, or -# accepts no multi-line input");
    if (edit.action == MainCfEdit::Action::kSet) {
      auto nv = split_name_value(arg);
      if (!nv) log::fatal("{}: {}", arg, nv.error().text);
      edit.values.emplace_back(std::move(nv->first), std::move(nv->second));
    } else {
      if (arg.find('=') != std::string::npos)
        log::fatal("-{} option requires parameter name without value: {}",
                   opts.comment_out ? "#" : "X", arg);
      edit.values.emplace_back(arg, "");
    }
  }
  std::string path = cfg.main_cf_path();
  auto text = read_file(path, 16 << 20);
  if (!text && text.error().code != Errc::kNotFound) log::fatal("{}", text.error().text);
  std::string edited = edit_main_cf(text ? *text : std::string(), edit);
  if (text && edited == *text) return 0;
  if (auto w = replace_file_atomically(path, edited); !w) log::fatal("{}", w.error().text);
  return 0;
}

}  // namespace

int run_main_cf(const Options& opts_in, Config& cfg) {
  Options opts = opts_in;
  // "postconf name=value" edits, as if -e were given.
  if (!opts.comment_out && !opts.remove && !opts.args.empty() &&
      std::all_of(opts.args.begin(), opts.args.end(),
                  [](const std::string& a) { return a.find('=') != std::string::npos; }))
    opts.edit = true;
  if (opts.edit || opts.comment_out || opts.remove) {
    if (opts.args.empty()) log::fatal("-{} requires parameter arguments",
                                      opts.edit ? "e" : opts.comment_out ? "#" : "X");
    return edit_params(opts, cfg);
  }
  return print_params(opts, cfg);
}

}  // namespace postern::postconf
