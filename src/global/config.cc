#include "global/config.h"

#include <unistd.h>

#include <cstdlib>
#include <fmt/format.h>

#include "global/expand.h"
#include "util/inet.h"
#include "util/log.h"
#include "util/stream.h"
#include "util/strings.h"

namespace postern {

std::string default_config_directory() {
  if (const char* env = std::getenv("MAIL_CONFIG"); env && *env) return env;
  return std::string(build_default("config_directory"));
}

Config::Config() : config_dir_(default_config_directory()) {}

Result<Config> Config::load(const std::string& config_dir, bool main_cf_optional) {
  Config cfg;
  cfg.config_dir_ = config_dir;
  std::string main_path = cfg.main_cf_path();
  auto text = read_file(main_path, 16 << 20);
  if (!text) {
    if (!main_cf_optional || text.error().code != Errc::kNotFound)
      return fail(text.error().code, text.error().text);
  } else {
    auto entries = parse_main_cf(*text, main_path);
    if (!entries) return std::unexpected(entries.error());
    cfg.entries_ = std::move(*entries);
    for (const auto& e : cfg.entries_) {
      auto [it, inserted] = cfg.main_values_.try_emplace(e.name, e.value);
      if (!inserted) {
        cfg.load_warnings_.push_back(fmt::format("{}, line {}: overriding earlier entry: {}={}",
                                                 main_path, e.line, e.name, it->second));
        it->second = e.value;
      }
    }
  }
  // Like Postfix, a configuration read from a named directory records it.
  if (config_dir != build_default("config_directory") && !cfg.main_values_.count("config_directory"))
    cfg.main_values_["config_directory"] = config_dir;

  auto master_text = read_file(cfg.master_cf_path(), 16 << 20);
  if (!master_text) {
    cfg.master_error_ = master_text.error().text;
  } else {
    auto services = parse_master_cf(*master_text, cfg.master_cf_path());
    if (!services) return std::unexpected(services.error());
    cfg.services_ = std::move(*services);
    for (const auto& s : cfg.services_) {
      if (s.type != "unix") continue;
      for (auto& p : postern::transport_params(s.name, s.program())) {
        bool dup = false;
        for (const auto& q : cfg.transport_params_) dup = dup || q.name == p.name;
        if (!dup) cfg.transport_params_.push_back(std::move(p));
      }
    }
  }
  return cfg;
}

Config Config::defaults_only() const {
  Config out = *this;
  out.entries_.clear();
  out.main_values_.clear();
  out.overrides_.clear();
  return out;
}

void Config::set_override(std::string_view name, std::string_view value) {
  overrides_[std::string(name)] = std::string(value);
}

std::optional<std::string> Config::main_cf_value(std::string_view name) const {
  if (auto it = main_values_.find(name); it != main_values_.end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> Config::raw(std::string_view name) const {
  if (auto it = overrides_.find(name); it != overrides_.end()) return it->second;
  if (auto v = main_cf_value(name)) return v;
  return default_value(name);
}

std::optional<std::string> Config::default_value(std::string_view name) const {
  if (const ParamInfo* p = find_static_param(name)) {
    if (p->kind == DefaultKind::kFixed) return std::string(p->default_text);
    return computed_default(*p);
  }
  for (const auto& t : transport_params_)
    if (t.name == name) return t.default_text;
  return std::nullopt;
}

bool Config::is_known(std::string_view name) const { return type_of(name).has_value(); }

std::optional<std::pair<ParamType, char>> Config::type_of(std::string_view name) const {
  if (const ParamInfo* p = find_static_param(name)) return std::pair{p->type, p->time_unit};
  for (const auto& t : transport_params_)
    if (t.name == name) return std::pair{t.type, t.time_unit};
  return std::nullopt;
}

static std::string local_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) < 0 || !buf[0]) return "localhost.localdomain";
  std::string name = lowercase(buf);
  if (name.find('.') == std::string::npos) name += ".localdomain";
  return name;
}

std::string Config::computed_default(const ParamInfo& p) const {
  switch (p.kind) {
    case DefaultKind::kFixed: return std::string(p.default_text);
    case DefaultKind::kBuildPath: return std::string(build_default(p.name));
    case DefaultKind::kHostname: return local_hostname();
    case DefaultKind::kDomain: {
      std::string host = expand("myhostname").value_or(local_hostname());
      size_t dot = host.find('.');
      if (dot == std::string::npos || dot + 1 >= host.size()) return "localdomain";
      return host.substr(dot + 1);
    }
    case DefaultKind::kNetworks: return compute_mynetworks();
    case DefaultKind::kProcessId: return std::to_string(::getpid());
    case DefaultKind::kProcessName: return process_name_;
  }
  return {};
}

// The networks of the interfaces we listen on, per $mynetworks_style.
std::string Config::compute_mynetworks() const {
  std::string style = lowercase(expand("mynetworks_style").value_or("host"));
  std::string protocols = lowercase(expand("inet_protocols").value_or("all"));
  bool want_v4 = protocols.find("all") != std::string::npos || protocols.find("ipv4") != std::string::npos;
  bool want_v6 = protocols.find("all") != std::string::npos || protocols.find("ipv6") != std::string::npos;
  std::vector<std::string> interfaces;
  for (auto i : split(expand("inet_interfaces").value_or("all"))) interfaces.push_back(lowercase(i));
  bool all = interfaces.empty() ||
             std::find(interfaces.begin(), interfaces.end(), "all") != interfaces.end();
  bool loopback_only =
      std::find(interfaces.begin(), interfaces.end(), "loopback-only") != interfaces.end();
  std::vector<std::string> out;
  for (const auto& ia : local_interface_addresses()) {
    const IpAddress& a = ia.address;
    if ((a.is_v4() && !want_v4) || (a.is_v6() && !want_v6)) continue;
    if (!all) {
      bool listed = loopback_only && a.is_loopback();
      for (const auto& i : interfaces) {
        auto parsed = IpAddress::parse(i);
        listed = listed || (parsed && *parsed == a) || (i == "localhost" && a.is_loopback());
      }
      if (!listed) continue;
    }
    int prefix = a.max_prefix();
    if (style == "subnet") {
      prefix = ia.prefix;
    } else if (style == "class") {
      if (a.is_v4()) {
        unsigned first = a.bytes()[0];
        prefix = first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : 32;
      } else {
        prefix = ia.prefix;
      }
    }
    std::string net = Cidr{a.masked(prefix), prefix}.to_string();
    if (std::find(out.begin(), out.end(), net) == out.end()) out.push_back(net);
  }
  return join(out, " ");
}

Result<std::string> Config::expand_text(std::string_view text) const {
  ParamLookup lookup = [this](std::string_view name) { return raw(name); };
  return expand_value(text, lookup);
}

Result<std::string> Config::expand(std::string_view name) const {
  auto value = raw(name);
  if (!value) return std::string();
  auto out = expand_text(*value);
  if (!out) return fail(out.error().code, fmt::format("{}: {}", name, out.error().text));
  return out;
}

std::string Config::get(std::string_view name) const {
  auto v = expand(name);
  if (!v) log::fatal("{}", v.error().text);
  return *v;
}

Result<bool> Config::parse_bool(std::string_view name, std::string_view value) {
  if (iequals(value, "yes") || iequals(value, "true") || value == "1") return true;
  if (iequals(value, "no") || iequals(value, "false") || value == "0") return false;
  return fail(Errc::kInvalid, fmt::format("bad boolean configuration: {} = {}", name, value));
}

Result<long long> Config::parse_int(std::string_view name, std::string_view value) {
  auto n = parse_long(value);
  if (!n) return fail(Errc::kInvalid, fmt::format("bad numerical configuration: {} = {}", name, value));
  return *n;
}

Result<long long> Config::parse_time(std::string_view name, std::string_view value,
                                     char default_unit) {
  std::string_view digits = value;
  char unit = default_unit ? default_unit : 's';
  if (!digits.empty() && std::isalpha(static_cast<unsigned char>(digits.back()))) {
    unit = static_cast<char>(std::tolower(static_cast<unsigned char>(digits.back())));
    digits.remove_suffix(1);
  }
  auto n = parse_long(digits);
  long long scale = 0;
  switch (unit) {
    case 's': scale = 1; break;
    case 'm': scale = 60; break;
    case 'h': scale = 3600; break;
    case 'd': scale = 86400; break;
    case 'w': scale = 7 * 86400; break;
    default: break;
  }
  if (!n || *n < 0 || scale == 0)
    return fail(Errc::kInvalid, fmt::format("parameter {}: bad time value or unit: {}", name, value));
  return *n * scale;
}

Result<bool> Config::bool_value(std::string_view name) const {
  auto v = expand(name);
  if (!v) return std::unexpected(v.error());
  return parse_bool(name, *v);
}

Result<long long> Config::int_value(std::string_view name) const {
  auto v = expand(name);
  if (!v) return std::unexpected(v.error());
  return parse_int(name, *v);
}

Result<long long> Config::time_value(std::string_view name) const {
  auto v = expand(name);
  if (!v) return std::unexpected(v.error());
  auto type = type_of(name);
  return parse_time(name, *v, type && type->first == ParamType::kTime ? type->second : 's');
}

bool Config::get_bool(std::string_view name) const {
  auto v = bool_value(name);
  if (!v) log::fatal("{}", v.error().text);
  return *v;
}

long long Config::get_int(std::string_view name) const {
  auto v = int_value(name);
  if (!v) log::fatal("{}", v.error().text);
  return *v;
}

long long Config::get_time(std::string_view name) const {
  auto v = time_value(name);
  if (!v) log::fatal("{}", v.error().text);
  return *v;
}

std::vector<std::string> Config::get_list(std::string_view name) const {
  std::vector<std::string> out;
  // The value must outlive the views split() returns (a temporary in the
  // for-range initializer would not, before C++23's P2718).
  std::string value = get(name);
  for (auto piece : split(value)) out.emplace_back(piece);
  return out;
}

static Config& global_config() {
  static Config cfg;
  return cfg;
}

Config& config() { return global_config(); }
void set_config(Config cfg) { global_config() = std::move(cfg); }

}  // namespace postern
