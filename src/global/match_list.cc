#include "global/match_list.h"

#include <fmt/format.h>

#include "global/config.h"
#include "util/inet.h"
#include "util/stream.h"
#include "util/strings.h"

namespace postern {

namespace {

constexpr int kMaxFileNesting = 10;

// An element is a table when it has a colon and is not a bracketed address
// (IPv6 networks must be written in brackets for exactly this reason).
bool looks_like_table(std::string_view pattern) {
  return !pattern.empty() && pattern.front() != '[' &&
         pattern.find(':') != std::string_view::npos;
}

std::string_view without_brackets(std::string_view s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') return s.substr(1, s.size() - 2);
  return s;
}

// "[v6]/len" or "[v6]" or "v4/len": the text Cidr::parse understands.
std::string network_text(std::string_view pattern) {
  size_t slash = pattern.find('/');
  std::string_view addr = pattern.substr(0, slash);
  std::string out(without_brackets(addr));
  if (slash != std::string_view::npos) out += pattern.substr(slash);
  return out;
}

bool looks_like_address_pattern(std::string_view p) {
  if (p.empty()) return false;
  if (p.front() == '[') return true;
  std::string_view addr = p.substr(0, p.find('/'));
  return IpAddress::parse(addr).has_value();
}

}  // namespace

bool parent_domain_matches_subdomains(const Config& cfg, std::string_view param) {
  for (const std::string& name : cfg.get_list("parent_domain_matches_subdomains"))
    if (name == param) return true;
  return false;
}

Result<MatchList> MatchList::from_config(const Config& cfg, std::string_view param,
                                         TableLookup lookup) {
  auto value = cfg.expand(param);
  if (!value) return std::unexpected(value.error());
  MatchListOptions options;
  options.param_name = std::string(param);
  options.parent_matches_subdomains = parent_domain_matches_subdomains(cfg, param);
  options.lookup = std::move(lookup);
  return parse(*value, std::move(options));
}

namespace {

struct Parser {
  const MatchListOptions& options;

  template <class Add>
  Status parse_text(std::string_view text, bool negate, int depth, const Add& add) {
    for (const std::string& token : split_keeping_braces(text)) {
      std::string_view item = token;
      bool negated = negate;
      while (!item.empty() && item.front() == '!') {
        negated = !negated;
        item.remove_prefix(1);
      }
      if (item.empty())
        return fail(Errc::kInvalid,
                    fmt::format("{}: empty negated pattern", options.param_name));
      if (item.front() == '/') {
        if (auto st = parse_file(item, negated, depth, add); !st) return st;
        continue;
      }
      if (auto st = add(item, negated); !st) return st;
    }
    return {};
  }

  template <class Add>
  Status parse_file(std::string_view path, bool negate, int depth, const Add& add) {
    if (depth >= kMaxFileNesting)
      return fail(Errc::kInvalid, fmt::format("{}: {}: files nested too deeply",
                                              options.param_name, path));
    auto text = read_file(std::string(path), 16 * 1024 * 1024);
    if (!text)
      return fail(Errc::kInvalid, fmt::format("{}: open {}: {}", options.param_name, path,
                                              text.error().text));
    for (std::string_view line : split(*text, "\n")) {
      std::string_view content = trim(line);
      if (content.empty() || content.front() == '#') continue;
      if (auto st = parse_text(content, negate, depth + 1, add); !st) return st;
    }
    return {};
  }
};

}  // namespace

Result<MatchList> MatchList::parse(std::string_view text, MatchListOptions options) {
  MatchList list;
  list.options_ = std::move(options);
  Parser parser{list.options_};
  auto add = [&list](std::string_view item, bool negated) -> Status {
    Element e;
    e.negated = negated;
    e.is_table = looks_like_table(item);
    if (e.is_table) {
      if (!list.options_.lookup)
        return fail(Errc::kInvalid, fmt::format("{}: table {} is not supported here",
                                                list.options_.param_name, item));
      e.pattern = std::string(item);
    } else {
      e.pattern = lowercase(item);
      if (item.find('/') != std::string_view::npos && looks_like_address_pattern(item)) {
        auto net = Cidr::parse(network_text(item), /*strict=*/true);
        if (!net)
          return fail(Errc::kInvalid, fmt::format("{}: bad net/mask pattern: \"{}\": {}",
                                                  list.options_.param_name, item,
                                                  net.error().text));
      }
    }
    list.elements_.push_back(std::move(e));
    return {};
  };
  if (auto st = parser.parse_text(text, false, 0, add); !st) return std::unexpected(st.error());
  return list;
}

std::vector<std::string> MatchList::tables() const {
  std::vector<std::string> out;
  for (const Element& e : elements_)
    if (e.is_table) out.push_back(e.pattern);
  return out;
}

Result<bool> MatchList::domain_matches(const Element& e, std::string_view name) const {
  if (e.is_table) {
    // Ask for the name, then each parent: "parent.com" when parent matching
    // is on for this list, ".parent.com" otherwise.
    std::string_view entry = name;
    while (!entry.empty()) {
      auto found = options_.lookup(e.pattern, entry, entry.size() != name.size());
      if (found) return true;
      if (found.error().code != Errc::kNotFound) return std::unexpected(found.error());
      size_t dot = entry.find('.', 1);
      if (dot == std::string_view::npos) break;
      entry = entry.substr(options_.parent_matches_subdomains ? dot + 1 : dot);
    }
    return false;
  }
  const std::string& p = e.pattern;
  if (name == p) return true;
  if (p.empty() || name.size() <= p.size()) return false;
  std::string_view tail = name.substr(name.size() - p.size());
  if (p.front() == '.') return tail == p;
  return options_.parent_matches_subdomains && tail == p &&
         name[name.size() - p.size() - 1] == '.';
}

Result<bool> MatchList::address_matches(const Element& e, std::string_view address) const {
  if (address.empty()) return false;
  if (e.is_table) {
    auto found = options_.lookup(e.pattern, address, false);
    if (found) return true;
    if (found.error().code != Errc::kNotFound) return std::unexpected(found.error());
    return false;
  }
  auto addr = IpAddress::parse(without_brackets(address));
  if (!addr) return false;
  if (!looks_like_address_pattern(e.pattern)) return false;
  auto net = Cidr::parse(network_text(e.pattern), /*strict=*/true);
  return net && net->contains(*addr);
}

Result<bool> MatchList::element_matches(const Element& e, Matcher how,
                                        std::string_view subject) const {
  switch (how) {
    case Matcher::kDomain: {
      std::string name = lowercase(subject);
      if (!name.empty() && name.back() == '.') name.pop_back();
      return domain_matches(e, name);
    }
    case Matcher::kAddress:
      return address_matches(e, subject);
    case Matcher::kString: {
      if (!e.is_table) return iequals(subject, e.pattern);
      auto found = options_.lookup(e.pattern, subject, false);
      if (found) return true;
      if (found.error().code != Errc::kNotFound) return std::unexpected(found.error());
      return false;
    }
  }
  return false;
}

Result<bool> MatchList::match(
    std::initializer_list<std::pair<Matcher, std::string_view>> subjects) const {
  for (const Element& e : elements_) {
    for (const auto& [how, subject] : subjects) {
      auto hit = element_matches(e, how, subject);
      if (!hit) {
        return fail(hit.error().code,
                    fmt::format("{}: {}", options_.param_name, hit.error().text));
      }
      if (*hit) return !e.negated;
    }
  }
  return false;
}

Result<bool> MatchList::match_domain(std::string_view domain) const {
  return match({{Matcher::kDomain, domain}});
}

Result<bool> MatchList::match_client(std::string_view hostname,
                                     std::string_view address) const {
  return match({{Matcher::kDomain, hostname}, {Matcher::kAddress, address}});
}

Result<bool> MatchList::match_address(std::string_view address) const {
  return match({{Matcher::kAddress, address}});
}

Result<bool> MatchList::match_string(std::string_view text) const {
  return match({{Matcher::kString, text}});
}

}  // namespace postern
