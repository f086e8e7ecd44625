#include "qshape/shape.h"

#include <algorithm>

#include <fmt/format.h>

#include "util/strings.h"

namespace postern {

QueueShape::QueueShape(ShapeOptions o) : o_(o) {
  if (o_.buckets < 1) o_.buckets = 1;
  if (o_.bucket_time < 1) o_.bucket_time = 5;
  long limit = o_.bucket_time;
  for (int i = 0; i + 1 < o_.buckets; ++i) {
    limits_.push_back(limit);
    limit = o_.linear ? limit + o_.bucket_time : limit * 2;
  }
  total_.counts.assign(static_cast<size_t>(o_.buckets), 0);
}

int QueueShape::bucket_of(long age_seconds) const {
  double minutes = age_seconds / 60.0;
  for (size_t i = 0; i < limits_.size(); ++i)
    if (minutes < static_cast<double>(limits_[i])) return static_cast<int>(i);
  return static_cast<int>(limits_.size());
}

QueueShape::Row& QueueShape::row(std::map<std::string, Row>& m, const std::string& key) {
  Row& r = m[key];
  if (r.counts.empty()) r.counts.assign(static_cast<size_t>(o_.buckets), 0);
  return r;
}

void QueueShape::add(const std::string& name, long age_seconds, bool fold) {
  std::string domain = fold ? lowercase(name) : name;
  size_t b = static_cast<size_t>(bucket_of(age_seconds));
  ++total_.total;
  ++total_.counts[b];
  Row& r = row(domains_, domain);
  ++r.total;
  ++r.counts[b];
  if (!o_.parents) return;
  // Every parent below the top-level domain aggregates its subdomains.
  for (size_t dot = domain.find('.'); dot != std::string::npos; dot = domain.find('.', dot + 1)) {
    std::string parent = domain.substr(dot + 1);
    if (parent.find('.') == std::string::npos) break;  // top-level domain
    Row& p = row(parents_, parent);
    ++p.total;
    ++p.counts[b];
    subdomains_[parent].insert(domain);
  }
}

std::string QueueShape::render() const {
  // Labels and column widths (at least 2, wide enough for every count).
  std::vector<std::string> labels{"T"};
  for (long l : limits_) labels.push_back(std::to_string(l));
  labels.push_back(fmt::format("{}+", limits_.empty() ? 0 : limits_.back()));
  struct Line {
    std::string name;
    const Row* row;
  };
  std::vector<Line> lines;
  for (const auto& [name, r] : domains_) lines.push_back({name, &r});
  for (const auto& [name, r] : parents_) {
    auto it = subdomains_.find(name);
    if (it != subdomains_.end() && static_cast<int>(it->second.size()) >= o_.min_subdomains)
      lines.push_back({"." + name, &r});
  }
  std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    if (a.row->total != b.row->total) return a.row->total > b.row->total;
    return a.name < b.name;
  });
  std::vector<size_t> widths;
  for (const auto& l : labels) widths.push_back(std::max<size_t>(2, l.size()));
  auto widen = [&](const Row& r) {
    widths[0] = std::max(widths[0], std::to_string(r.total).size());
    for (size_t i = 0; i < r.counts.size(); ++i)
      widths[i + 1] = std::max(widths[i + 1], std::to_string(r.counts[i]).size());
  };
  widen(total_);
  for (const auto& l : lines) widen(*l.row);
  int used = 0;
  for (size_t w : widths) used += static_cast<int>(w) + 1;
  int dw = std::max(o_.width - used, 18);
  auto fit = [&](std::string name) {
    if (static_cast<int>(name.size()) <= dw) return name;
    bool parent = name.front() == '.';
    size_t keep = static_cast<size_t>(dw) - (parent ? 2 : 1);
    return (parent ? ".+" : "+") + name.substr(name.size() - keep);
  };
  std::string out = fmt::format("{:>{}}", "", dw);
  for (size_t i = 0; i < labels.size(); ++i) out += fmt::format(" {:>{}}", labels[i], widths[i]);
  out += "\n";
  auto put = [&](const std::string& name, const Row& r) {
    out += fmt::format("{:>{}} {:>{}}", fit(name), dw, r.total, widths[0]);
    for (size_t i = 0; i < r.counts.size(); ++i) out += fmt::format(" {:>{}}", r.counts[i], widths[i + 1]);
    out += "\n";
  };
  put("TOTAL", total_);
  for (const auto& l : lines) put(l.name, *l.row);
  return out;
}

}  // namespace postern
