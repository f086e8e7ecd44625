// Settings::from_config and Tables::open: what cleanup reads from main.cf.
#include <fmt/format.h>

#include "cleanup/message.h"
#include "global/config.h"
#include "global/match_list.h"
#include "maps/table_lookup.h"
#include "util/strings.h"

namespace postern::cleanup {

namespace {

std::set<std::string> word_set(const Config& cfg, std::string_view name) {
  std::set<std::string> out;
  for (const auto& w : cfg.get_list(name)) out.insert(lowercase(w));
  return out;
}

Result<long long> int_param(const Config& cfg, std::string_view name) {
  return cfg.int_value(name);
}

}  // namespace

Result<Settings> Settings::from_config(const Config& cfg) {
  Settings s;
  s.myhostname = cfg.get("myhostname");
  for (auto [name, field] : {std::pair<std::string_view, long long*>{"message_size_limit", &s.message_size_limit},
                             {"body_checks_size_limit", &s.body_checks_size_limit}}) {
    auto v = int_param(cfg, name);
    if (!v) return std::unexpected(v.error());
    *field = *v;
  }
  auto warn = cfg.time_value("delay_warning_time");
  if (!warn) return std::unexpected(warn.error());
  s.delay_warning_time = *warn;
  auto hops = int_param(cfg, "hopcount_limit");
  if (!hops) return std::unexpected(hops.error());
  s.hopcount_limit = static_cast<int>(*hops);
  auto add = cfg.bool_value("always_add_missing_headers");
  if (!add) return std::unexpected(add.error());
  s.always_add_missing_headers = *add;
  auto long_ids = cfg.bool_value("enable_long_queue_ids");
  if (!long_ids) return std::unexpected(long_ids.error());
  s.long_queue_ids = *long_ids;
  s.header_from_standard = lowercase(cfg.get("header_from_format")) != "obsolete";
  s.undisclosed_recipients_header = cfg.get("undisclosed_recipients_header");
  s.content_filter = std::string(trim(cfg.get("content_filter")));
  s.always_bcc = std::string(trim(cfg.get("always_bcc")));
  for (auto [name, field] : {std::pair<std::string_view, int*>{"virtual_alias_recursion_limit",
                                                               &s.virtual_limits.recursion},
                             {"virtual_alias_expansion_limit", &s.virtual_limits.expansion},
                             {"mime_nesting_limit", &s.mime.nesting_limit}}) {
    auto v = int_param(cfg, name);
    if (!v) return std::unexpected(v.error());
    *field = static_cast<int>(*v);
  }
  for (auto [name, field] :
       {std::pair<std::string_view, size_t*>{"header_size_limit", &s.mime.header_size_limit},
        {"line_length_limit", &s.line_length_limit},
        {"mime_boundary_length_limit", &s.mime.boundary_length_limit}}) {
    auto v = int_param(cfg, name);
    if (!v) return std::unexpected(v.error());
    if (*v <= 0) return fail(Errc::kInvalid, fmt::format("bad numerical configuration: {} = {}", name, *v));
    *field = static_cast<size_t>(*v);
  }
  auto strict = cfg.bool_value("disable_mime_input_processing");
  if (strict && *strict) s.mime.mime_processing = false;
  for (const auto& d : cfg.get_list("masquerade_domains")) s.masquerade.domains.push_back(d);
  for (const auto& d : cfg.get_list("masquerade_exceptions")) s.masquerade.exceptions.push_back(d);
  s.canonical_classes = word_set(cfg, "canonical_classes");
  s.sender_canonical_classes = word_set(cfg, "sender_canonical_classes");
  s.recipient_canonical_classes = word_set(cfg, "recipient_canonical_classes");
  s.masquerade_classes = word_set(cfg, "masquerade_classes");
  auto propagate = word_set(cfg, "propagate_unmatched_extensions");
  s.propagate_canonical = propagate.count("canonical") > 0;
  s.propagate_virtual = propagate.count("virtual") > 0;
  s.lookup.recipient_delimiter = cfg.get("recipient_delimiter");
  auto mydest = MatchList::from_config(cfg, "mydestination", maps::make_table_lookup());
  if (!mydest) return std::unexpected(mydest.error());
  auto dest = std::make_shared<MatchList>(std::move(*mydest));
  std::string host = lowercase(s.myhostname);
  s.lookup.domain_is_local = [dest, host](std::string_view domain) {
    if (lowercase(domain) == host) return true;
    auto m = dest->match_domain(domain);
    return m && *m;
  };
  return s;
}

Result<Tables> Tables::open(const Config& cfg) {
  Tables t;
  struct Entry {
    std::string_view param;
    maps::MapList* list;
    unsigned flags;
  } entries[] = {
      {"canonical_maps", &t.canonical, maps::kDefaultReadFlags},
      {"sender_canonical_maps", &t.sender_canonical, maps::kDefaultReadFlags},
      {"recipient_canonical_maps", &t.recipient_canonical, maps::kDefaultReadFlags},
      {"virtual_alias_maps", &t.virtual_alias, maps::kDefaultReadFlags},
      {"sender_bcc_maps", &t.sender_bcc, maps::kDefaultReadFlags},
      {"recipient_bcc_maps", &t.recipient_bcc, maps::kDefaultReadFlags},
      // Check tables see the line as it is (no case folding of fixed keys).
      {"header_checks", &t.header_checks, maps::kTryNull | maps::kTryNoNull},
      {"mime_header_checks", &t.mime_header_checks, maps::kTryNull | maps::kTryNoNull},
      {"nested_header_checks", &t.nested_header_checks, maps::kTryNull | maps::kTryNoNull},
      {"body_checks", &t.body_checks, maps::kTryNull | maps::kTryNoNull},
  };
  for (auto& e : entries) {
    auto value = cfg.expand(e.param);
    if (!value) return std::unexpected(value.error());
    if (trim(*value).empty()) continue;
    auto list = maps::MapList::open(e.param, *value, e.flags);
    if (!list) return std::unexpected(list.error());
    *e.list = std::move(*list);
  }
  return t;
}

bool Tables::changed() const {
  for (const auto* l : {&canonical, &sender_canonical, &recipient_canonical, &virtual_alias,
                        &sender_bcc, &recipient_bcc, &header_checks, &mime_header_checks,
                        &nested_header_checks, &body_checks})
    if (l->changed()) return true;
  return false;
}

}  // namespace postern::cleanup
