#include "global/param_table.h"

#include <algorithm>

#include "global/build_paths.h"

namespace postern {
namespace {

#define P(name, type, unit, kind, text) \
  ParamInfo{#name, ParamType::type, unit, DefaultKind::kind, text},
constexpr ParamInfo kParams[] = {
#include "global/param_table.inc"
};
#undef P

struct Suffix {
  std::string_view suffix;
  ParamType type;
  char unit;
  std::string_view default_text;
};

// The suffixes and their global counterparts, as Postfix 3.7 derives them.
constexpr Suffix kTransportSuffixes[] = {
    {"delivery_slot_cost", ParamType::kInt, 0, "$default_delivery_slot_cost"},
    {"delivery_slot_discount", ParamType::kInt, 0, "$default_delivery_slot_discount"},
    {"delivery_slot_loan", ParamType::kInt, 0, "$default_delivery_slot_loan"},
    {"destination_concurrency_failed_cohort_limit", ParamType::kInt, 0,
     "$default_destination_concurrency_failed_cohort_limit"},
    {"destination_concurrency_limit", ParamType::kInt, 0, "$default_destination_concurrency_limit"},
    {"destination_concurrency_negative_feedback", ParamType::kString, 0,
     "$default_destination_concurrency_negative_feedback"},
    {"destination_concurrency_positive_feedback", ParamType::kString, 0,
     "$default_destination_concurrency_positive_feedback"},
    {"destination_rate_delay", ParamType::kTime, 's', "$default_destination_rate_delay"},
    {"destination_recipient_limit", ParamType::kInt, 0, "$default_destination_recipient_limit"},
    {"extra_recipient_limit", ParamType::kInt, 0, "$default_extra_recipient_limit"},
    {"initial_destination_concurrency", ParamType::kInt, 0, "$initial_destination_concurrency"},
    {"minimum_delivery_slots", ParamType::kInt, 0, "$default_minimum_delivery_slots"},
    {"recipient_limit", ParamType::kInt, 0, "$default_recipient_limit"},
    {"recipient_refill_delay", ParamType::kTime, 's', "$default_recipient_refill_delay"},
    {"recipient_refill_limit", ParamType::kInt, 0, "$default_recipient_refill_limit"},
    {"transport_rate_delay", ParamType::kTime, 's', "$default_transport_rate_delay"},
};

}  // namespace

std::span<const ParamInfo> static_params() { return kParams; }

const ParamInfo* find_static_param(std::string_view name) {
  auto it = std::lower_bound(std::begin(kParams), std::end(kParams), name,
                             [](const ParamInfo& p, std::string_view n) { return p.name < n; });
  if (it == std::end(kParams) || it->name != name) return nullptr;
  return &*it;
}

bool is_delivery_agent_command(std::string_view command) {
  return command == "smtp" || command == "lmtp" || command == "local" || command == "virtual" ||
         command == "error" || command == "pipe";
}

static bool runs_external_command(std::string_view command) {
  return command == "pipe" || command == "spawn";
}

std::vector<TransportParam> transport_params(std::string_view service, std::string_view command) {
  std::vector<TransportParam> out;
  auto add = [&](std::string_view suffix, ParamType type, char unit, std::string_view def) {
    std::string name = std::string(service) + "_" + std::string(suffix);
    if (find_static_param(name)) return;
    out.push_back({std::move(name), type, unit, std::string(def)});
  };
  if (is_delivery_agent_command(command))
    for (const Suffix& s : kTransportSuffixes) add(s.suffix, s.type, s.unit, s.default_text);
  if (runs_external_command(command)) add("time_limit", ParamType::kTime, 's', "$command_time_limit");
  return out;
}

std::string_view build_default(std::string_view name) {
  struct Entry {
    std::string_view name, value;
  };
  static constexpr Entry kPaths[] = {
      {"command_directory", POSTERN_COMMAND_DIR},
      {"daemon_directory", POSTERN_DAEMON_DIR},
      {"config_directory", POSTERN_CONFIG_DIR},
      {"queue_directory", POSTERN_QUEUE_DIR},
      {"data_directory", POSTERN_DATA_DIR},
      {"meta_directory", POSTERN_META_DIR},
      {"shlib_directory", POSTERN_SHLIB_DIR},
      {"manpage_directory", POSTERN_MANPAGE_DIR},
      {"sendmail_path", POSTERN_SENDMAIL_PATH},
      {"mailq_path", POSTERN_MAILQ_PATH},
      {"newaliases_path", POSTERN_NEWALIASES_PATH},
      {"mail_name", "Postern"},
  };
  for (const Entry& e : kPaths)
    if (e.name == name) return e.value;
  return {};
}

}  // namespace postern

namespace postern {

bool is_raw_parameter(std::string_view name) {
  // Postfix 3.7's parameters whose $names are expanded by their user
  // (local(8), smtpd(8)) with per-message values, never by postconf.
  static constexpr std::string_view kRaw[] = {
      "command_execution_directory", "default_rbl_reply",   "forward_path",
      "luser_relay",                 "mailbox_command",     "postscreen_expansion_filter",
      "postscreen_reject_footer",    "smtpd_expansion_filter", "smtpd_reject_footer",
  };
  for (auto r : kRaw)
    if (r == name) return true;
  return false;
}

}  // namespace postern
