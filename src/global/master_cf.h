// master.cf: one service per logical line, eight fields:
//   service type private unpriv chroot wakeup maxproc command [args...]
// "-" selects the default of a field. Arguments in "{ ... }" are one
// argument (braces removed, inner white space trimmed). "-o name=value"
// and "-o { name = value }" override main.cf for that service.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace postern {

struct MasterService {
  // Fields as written (for postconf -M and -F).
  std::string name;
  std::string type;
  std::string private_field;
  std::string unpriv_field;
  std::string chroot_field;
  std::string wakeup_field;
  std::string maxproc_field;
  std::vector<std::string> command;  // command name and arguments, braces resolved
  std::vector<std::string> raw_args; // arguments as written, "{ ... }" groups kept
  int line = 0;

  // Field values with defaults applied.
  bool is_private() const;       // default y (inet: always n)
  bool is_unprivileged() const;  // default y
  bool is_chrooted() const;      // default n
  int wakeup_seconds() const;    // default 0 (no wakeup)
  bool wakeup_after_use() const; // "60?": only after the first use
  // -1 when "-" (use $default_process_limit); 0 means unlimited.
  int maxproc() const;
  const std::string& program() const { return command.front(); }
  // The -o name=value pairs, in order.
  std::vector<std::pair<std::string, std::string>> overrides() const;
  // "name/type", the key postconf and master use.
  std::string key() const { return name + "/" + type; }
};

// Parses master.cf text; every entry is kept, duplicates too (postconf -M
// shows them all). Errors name the file and line.
Result<std::vector<MasterService>> parse_master_cf(std::string_view text, std::string_view path);
// The services master runs: when a name/type is defined more than once,
// the last definition wins, at its own position.
std::vector<MasterService> effective_services(std::vector<MasterService> services);

// Parses one logical line (without file/line context in errors).
Result<MasterService> parse_master_entry(std::string_view line);

bool is_valid_service_type(std::string_view type);

}  // namespace postern
