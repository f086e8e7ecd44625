// The table of every parameter Postern knows: Postfix 3.7's names, types
// and defaults (param_table.inc), plus the per-transport parameters that
// each delivery service in master.cf adds (smtp_destination_..., etc.).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace postern {

enum class ParamType { kString, kBool, kInt, kTime };

// How the default is obtained.
enum class DefaultKind {
  kFixed,        // the text in the table
  kBuildPath,    // set by the build (CMake): directories, program paths
  kHostname,     // computed: the host's fully qualified name
  kDomain,       // computed: $myhostname without its first label
  kNetworks,     // computed: the local networks per $mynetworks_style
  kProcessId,    // computed: getpid()
  kProcessName,  // computed: the program name
};

struct ParamInfo {
  std::string_view name;
  ParamType type;
  char time_unit;  // default unit of a kTime parameter ('s', 'm', 'h', 'd', 'w')
  DefaultKind kind;
  std::string_view default_text;  // for kFixed (and a hint for the rest)
};

// The static parameters, sorted by name.
std::span<const ParamInfo> static_params();
// A static parameter by name, or nullptr.
const ParamInfo* find_static_param(std::string_view name);

// Per-transport parameters: a master.cf service whose command is one of
// the delivery agents (smtp, lmtp, local, virtual, error, pipe) defines
// <service>_<suffix> for each suffix, with a default that points at the
// global parameter ("$default_destination_concurrency_limit"); services
// that run external commands (pipe, spawn) also get <service>_time_limit.
struct TransportParam {
  std::string name;
  ParamType type;
  char time_unit;
  std::string default_text;
};
bool is_delivery_agent_command(std::string_view command);
std::vector<TransportParam> transport_params(std::string_view service, std::string_view command);

// Raw parameters are not expanded by postconf -x or when read: their
// $names belong to the program that uses them ($user in mailbox_command).
bool is_raw_parameter(std::string_view name);

// The compiled-in value of a kBuildPath parameter.
std::string_view build_default(std::string_view name);

}  // namespace postern
