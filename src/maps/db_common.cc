#include "maps/db_common.h"

#include <cerrno>
#include <cstring>

#include "global/config.h"
#include "global/main_cf.h"
#include "util/stream.h"
#include "util/strings.h"

namespace postern::maps {

// Table configuration files are small; refuse anything absurd.
constexpr size_t kMaxTableConfig = 1 << 20;

Result<TableConfig> TableConfig::load(const std::string& name) {
  TableConfig cfg;
  if (!name.empty() && name[0] == '/') {
    auto text = read_file(name, kMaxTableConfig);
    if (!text) {
      if (text.error().code == Errc::kNotFound)
        return fail(Errc::kNotFound, "open " + name + ": No such file or directory");
      return std::unexpected(text.error());
    }
    auto entries = parse_main_cf(*text, name);
    if (!entries) return std::unexpected(entries.error());
    for (auto& e : *entries) cfg.values_[e.name] = e.value;
    cfg.from_file_ = true;
    return cfg;
  }
  cfg.prefix_ = name + "_";
  for (const MainCfEntry& e : config().main_cf_entries()) {
    if (e.name.starts_with(cfg.prefix_)) {
      auto v = config().expand(e.name);
      cfg.values_[e.name.substr(cfg.prefix_.size())] = v ? *v : e.value;
    }
  }
  return cfg;
}

std::string TableConfig::label(std::string_view param) const {
  return prefix_ + std::string(param);
}

bool TableConfig::has(std::string_view param) const { return values_.contains(param); }

std::string TableConfig::get(std::string_view param, std::string_view fallback) const {
  auto it = values_.find(param);
  return it == values_.end() ? std::string(fallback) : it->second;
}

Result<long long> TableConfig::get_int(std::string_view param, long long fallback) const {
  auto it = values_.find(param);
  if (it == values_.end()) return fallback;
  auto n = parse_long(trim(it->second));
  if (!n) return fail(Errc::kInvalid, "bad numerical configuration: " + label(param) + " = " + it->second);
  return *n;
}

Result<bool> TableConfig::get_bool(std::string_view param, bool fallback) const {
  auto it = values_.find(param);
  if (it == values_.end()) return fallback;
  std::string v = lowercase(trim(it->second));
  if (v == "yes" || v == "true" || v == "1") return true;
  if (v == "no" || v == "false" || v == "0") return false;
  return fail(Errc::kInvalid, "bad boolean configuration: " + label(param) + " = " + it->second);
}

KeyParts split_key(std::string_view key) {
  KeyParts k;
  k.whole = key;
  size_t at = key.rfind('@');
  if (at == std::string_view::npos) {
    k.local = key;
  } else {
    k.local = key.substr(0, at);
    k.domain = key.substr(at + 1);
    k.has_domain = true;
  }
  return k;
}

Status DomainFilter::init(std::string_view list) {
  for (std::string_view item : split(list)) {
    if (item.find(':') != std::string_view::npos) {
      auto m = open_map(item);
      if (!m) return std::unexpected(m.error());
      maps_.push_back(std::move(*m));
    } else {
      names_.push_back(lowercase(item));
    }
  }
  return {};
}

Result<bool> DomainFilter::accepts(std::string_view key) {
  if (names_.empty() && maps_.empty()) return true;
  KeyParts k = split_key(key);
  if (!k.has_domain || k.local.empty() || k.domain.empty()) return false;
  std::string domain = lowercase(k.domain);
  for (const auto& n : names_)
    if (n == domain) return true;
  for (auto& m : maps_) {
    auto v = m->lookup(domain);
    if (v) return true;
    if (v.error().code != Errc::kNotFound) return std::unexpected(v.error());
  }
  return false;
}

namespace {

// The Nth label of a domain counted from the right (1 = top level).
bool domain_label(const std::string& domain, int n, std::string& out) {
  std::vector<std::string_view> labels = split(domain, ".");
  if (n < 1 || size_t(n) > labels.size()) return false;
  out = labels[labels.size() - size_t(n)];
  return true;
}

}  // namespace

Result<std::string> expand_query(std::string_view format, const KeyParts& key,
                                 const Quoter& quote, bool& suppressed) {
  suppressed = false;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    if (++i >= format.size()) return fail(Errc::kInvalid, "invalid % at end of \"" + std::string(format) + "\"");
    char c = format[i];
    switch (c) {
      case '%': out.push_back('%'); break;
      case 's': case 'S': out += quote(key.whole); break;
      case 'u': case 'U': out += quote(key.local); break;
      case 'd': case 'D':
        if (!key.has_domain || key.domain.empty()) {
          suppressed = true;
          return out;
        }
        out += quote(key.domain);
        break;
      default:
        if (c >= '1' && c <= '9') {
          std::string label;
          if (!key.has_domain || !domain_label(key.domain, c - '0', label)) {
            suppressed = true;
            return out;
          }
          out += quote(label);
          break;
        }
        return fail(Errc::kInvalid, std::string("invalid %") + c + " in \"" + std::string(format) + "\"");
    }
  }
  return out;
}

bool expand_result(std::string_view format, std::string_view value, const KeyParts& key,
                   std::string& out) {
  KeyParts v = split_key(value);
  std::string r;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      r.push_back(format[i]);
      continue;
    }
    char c = format[++i];
    std::string label;
    switch (c) {
      case '%': r.push_back('%'); break;
      case 's': r += v.whole; break;
      case 'u': r += v.local; break;
      case 'd':
        if (!v.has_domain) return false;
        r += v.domain;
        break;
      case 'S': r += key.whole; break;
      case 'U': r += key.local; break;
      case 'D':
        if (!key.has_domain) return false;
        r += key.domain;
        break;
      default:
        if (c >= '1' && c <= '9') {
          if (!key.has_domain || !domain_label(key.domain, c - '0', label)) return false;
          r += label;
        } else {
          r.push_back('%');
          r.push_back(c);
        }
    }
  }
  out = std::move(r);
  return true;
}

}  // namespace postern::maps
