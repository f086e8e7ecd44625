// The configuration a program runs with: main.cf, master.cf's per-service
// "-o" overrides, and the defaults of the parameter table.
//
// A value is looked up in this order: overrides (-o name=value, or values
// a program sets for itself), main.cf, the default. Values are expanded
// lazily, when read. Typed accessors report bad values with the parameter
// name ("bad numerical configuration: smtpd_timeout = 10x"); the get_*
// forms log fatal and exit, the parse_* forms return the error.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "global/main_cf.h"
#include "global/master_cf.h"
#include "global/param_table.h"
#include "util/error.h"

namespace postern {

// The configuration directory a program uses: -c DIR, else $MAIL_CONFIG,
// else the compiled-in default.
std::string default_config_directory();

class Config {
 public:
  // Defaults only (no files read).
  Config();

  // Reads DIR/main.cf and DIR/master.cf. A missing main.cf is an error
  // ("open PATH/main.cf: No such file or directory") unless `optional`;
  // a missing master.cf only loses the per-transport parameters.
  static Result<Config> load(const std::string& config_dir, bool main_cf_optional = false);

  // The same master.cf knowledge without main.cf or overrides (postconf -d).
  Config defaults_only() const;

  const std::string& config_dir() const { return config_dir_; }
  std::string main_cf_path() const { return config_dir_ + "/main.cf"; }
  std::string master_cf_path() const { return config_dir_ + "/master.cf"; }
  const std::vector<MainCfEntry>& main_cf_entries() const { return entries_; }
  const std::vector<MasterService>& master_services() const { return services_; }
  // Problems found while reading that are not errors (duplicate entries).
  const std::vector<std::string>& load_warnings() const { return load_warnings_; }
  // Why master.cf could not be read (empty when it was).
  const std::string& master_cf_error() const { return master_error_; }

  // Overrides main.cf and defaults (master.cf -o, postconf -o, a program's own settings).
  void set_override(std::string_view name, std::string_view value);

  // Raw value: override, else main.cf, else default; nullopt when undefined.
  std::optional<std::string> raw(std::string_view name) const;
  // The value main.cf gives, if any (last definition).
  std::optional<std::string> main_cf_value(std::string_view name) const;
  // The default, computed where the table says so; nullopt for unknown names.
  std::optional<std::string> default_value(std::string_view name) const;

  // Known: in the static table or a per-transport parameter of master.cf.
  bool is_known(std::string_view name) const;
  // Type and default unit of a known parameter.
  std::optional<std::pair<ParamType, char>> type_of(std::string_view name) const;
  // Per-transport parameters of master.cf's delivery services.
  const std::vector<TransportParam>& transport_params() const { return transport_params_; }

  // Expanded value ("" for undefined names).
  Result<std::string> expand(std::string_view name) const;
  Result<std::string> expand_text(std::string_view text) const;

  // Typed access; on a bad value these log fatal and exit.
  std::string get(std::string_view name) const;
  bool get_bool(std::string_view name) const;
  long long get_int(std::string_view name) const;
  long long get_time(std::string_view name) const;  // seconds
  std::vector<std::string> get_list(std::string_view name) const;

  // Typed parsing of one value, with errors that name the parameter.
  static Result<bool> parse_bool(std::string_view name, std::string_view value);
  static Result<long long> parse_int(std::string_view name, std::string_view value);
  static Result<long long> parse_time(std::string_view name, std::string_view value,
                                      char default_unit);
  Result<bool> bool_value(std::string_view name) const;
  Result<long long> int_value(std::string_view name) const;
  Result<long long> time_value(std::string_view name) const;

  // The program name for process_name (also the log tag).
  void set_process_name(std::string_view name) { process_name_ = std::string(name); }

 private:
  std::string computed_default(const ParamInfo& p) const;
  std::string compute_mynetworks() const;

  std::string config_dir_;
  std::vector<MainCfEntry> entries_;
  std::map<std::string, std::string, std::less<>> main_values_;
  std::map<std::string, std::string, std::less<>> overrides_;
  std::vector<MasterService> services_;
  std::string master_error_;
  std::vector<std::string> load_warnings_;
  std::vector<TransportParam> transport_params_;
  std::string process_name_ = "postern";
};

// The process-wide configuration used by daemons and commands.
Config& config();
void set_config(Config cfg);

}  // namespace postern
