// cidr: tables: "network/prefix result" lines (IPv4 and IPv6, "[v6]/n"
// too), "!network result" for the complement, "if network" ... "endif".
// The first matching line in file order wins; an address never matches a
// rule of the other family, negated or not.
#include <arpa/inet.h>

#include <cctype>
#include <cstring>
#include <optional>
#include <vector>

#include "maps/map_source.h"
#include "maps/openers.h"
#include "util/inet.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::maps {
namespace {

struct CidrRule {
  enum Kind { kMatch, kIf, kEndif } kind = kMatch;
  bool negate = false;
  Cidr net;
  std::string result;
  size_t endif_index = 0;
  int line = 0;
};

// Whether the first `prefix` bits of two addresses are equal.
bool prefix_equal(const unsigned char* a, const unsigned char* b, int prefix) {
  int full = prefix / 8;
  if (std::memcmp(a, b, size_t(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return ((a[full] ^ b[full]) & mask) == 0;
}

// A plain address as Postfix's cidr tables accept it: dotted-quad IPv4 or
// IPv6 text (an IPv4-mapped IPv6 address stays IPv6); no brackets.
std::optional<IpAddress> parse_address(std::string_view text) {
  std::string s(text);
  if (s.find(':') != std::string::npos) {
    in6_addr a6{};
    if (::inet_pton(AF_INET6, s.c_str(), &a6) != 1) return std::nullopt;
    return IpAddress::v6(a6);
  }
  in_addr a4{};
  if (::inet_pton(AF_INET, s.c_str(), &a4) != 1) return std::nullopt;
  return IpAddress::v4(a4);
}

class CidrMap final : public Map {
 public:
  using Map::Map;
  bool is_pattern() const override { return true; }

  void load(const std::vector<SourceLine>& lines) {
    watch_file(name_);
    load_if_blocks(
        lines, rules_, [this](const SourceLine& l) { return parse(l); },
        [this](int line, std::string_view text) { warn(line, text); },
        "ENDIF without IF: skipping this rule");
  }


 protected:
  Result<std::string> do_lookup(std::string_view key) override {
    auto addr = parse_address(key);
    if (!addr) return fail(Errc::kNotFound, "not found");
    for (size_t i = 0; i < rules_.size(); ++i) {
      const CidrRule& rule = rules_[i];
      if (rule.kind == CidrRule::kEndif) continue;
      bool matched = false;
      if (rule.net.network.family() == addr->family()) {
        matched = prefix_equal(rule.net.network.bytes(), addr->bytes(), rule.net.prefix);
        if (rule.negate) matched = !matched;
      }
      if (rule.kind == CidrRule::kIf) {
        if (!matched) i = rule.endif_index;
        continue;
      }
      if (matched) return rule.result;
    }
    return fail(Errc::kNotFound, "not found");
  }

 private:
  void warn(int line, std::string_view text) {
    log::warn("cidr map {}, line {}: {}", name_, line, text);
  }

  std::optional<CidrRule> parse(const SourceLine& line) {
    std::string_view p = line.text;
    CidrRule rule;
    rule.line = line.number;
    auto word = [&](std::string_view w) {
      return p.size() >= w.size() && iequals(p.substr(0, w.size()), w) &&
             (p.size() == w.size() || p[w.size()] == ' ' || p[w.size()] == '\t');
    };
    if (word("endif")) {
      rule.kind = CidrRule::kEndif;
      return rule;
    }
    if (word("if")) {
      rule.kind = CidrRule::kIf;
      p = trim_left(p.substr(2));
    }
    if (!p.empty() && p[0] == '!') {
      rule.negate = true;
      p = trim_left(p.substr(1));
    }
    std::string_view pattern_text;
    if (rule.kind == CidrRule::kIf) {
      pattern_text = p;  // the rest of the line, extra words and all
    } else {
      KeyValue kv = split_key_value(p);
      if (kv.value.empty()) {
        warn(line.number, "no lookup result: skipping this rule");
        return std::nullopt;
      }
      pattern_text = kv.key;
      rule.result = std::string(kv.value);
    }
    auto net = parse_network(pattern_text, line.number);
    if (!net) return std::nullopt;
    rule.net = *net;
    return rule;
  }

  // "addr", "addr/len", "[v6addr]/len", with Postfix's complaints.
  std::optional<Cidr> parse_network(std::string_view text, int line) {
    std::string_view addr_text = text, len_text;
    size_t slash = text.find('/');
    if (slash != std::string_view::npos) {
      addr_text = text.substr(0, slash);
      len_text = text.substr(slash + 1);
    }
    if (addr_text.size() >= 2 && addr_text.front() == '[' && addr_text.back() == ']')
      addr_text = addr_text.substr(1, addr_text.size() - 2);
    // Messages show the pattern without brackets, as Postfix does.
    std::string shown(addr_text);
    if (slash != std::string_view::npos) shown += "/" + std::string(len_text);
    auto addr = parse_address(addr_text);
    if (!addr) {
      warn(line, fmt::format("bad address pattern: \"{}\": skipping this rule", shown));
      return std::nullopt;
    }
    int len = addr->max_prefix();
    if (slash != std::string_view::npos) {
      auto n = parse_ulong(len_text);
      if (!n || len_text.empty() || !std::isdigit(static_cast<unsigned char>(len_text[0]))) {
        warn(line, fmt::format("bad mask value in \"{}\": skipping this rule", shown));
        return std::nullopt;
      }
      if (*n > unsigned(addr->max_prefix())) {
        warn(line, fmt::format("bad mask length in \"{}\": skipping this rule", shown));
        return std::nullopt;
      }
      len = int(*n);
    }
    IpAddress net = addr->masked(len);
    if (!(net == *addr)) {
      std::string suggestion = net.to_string() + "/" + std::to_string(len);
      warn(line, fmt::format("non-null host address bits in \"{}\", perhaps you should use \"{}\" "
                             "instead: skipping this rule",
                             shown, suggestion));
      return std::nullopt;
    }
    return Cidr{net, len};
  }

  std::vector<CidrRule> rules_;
};

}  // namespace

Result<MapPtr> open_cidr(const std::string& type, const std::string& name, unsigned flags) {
  auto lines = read_logical_lines(name);
  if (!lines) return std::unexpected(lines.error());
  auto map = std::make_unique<CidrMap>(type, name, flags);
  map->load(*lines);
  return map;
}

}  // namespace postern::maps
