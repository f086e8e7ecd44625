// The queue shape table of qshape(1): counts per domain (recipient or
// sender) and age bucket, rendered right-justified like Postfix's qshape.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace postern {

struct ShapeOptions {
  int buckets = 10;       // -b
  int bucket_time = 5;    // -t, minutes
  bool linear = false;    // -l
  bool parents = false;   // -p
  int min_subdomains = 5; // -m
  int width = 80;         // -w
};

class QueueShape {
 public:
  explicit QueueShape(ShapeOptions o);

  // Upper age limits in minutes of the bounded buckets (buckets - 1 of them).
  const std::vector<long>& limits() const { return limits_; }
  // The bucket of a message `age_seconds` old.
  int bucket_of(long age_seconds) const;
  // Counts one recipient (or sender) in `domain`, lower-cased unless
  // `fold` is false (the null sender's MAILER-DAEMON keeps its case).
  void add(const std::string& domain, long age_seconds, bool fold = true);
  // The table, header first; rows by count (descending), then by name.
  std::string render() const;

 private:
  struct Row {
    long total = 0;
    std::vector<long> counts;
  };
  Row& row(std::map<std::string, Row>& m, const std::string& key);

  ShapeOptions o_;
  std::vector<long> limits_;
  Row total_;
  std::map<std::string, Row> domains_;
  std::map<std::string, Row> parents_;
  std::map<std::string, std::set<std::string>> subdomains_;
};

}  // namespace postern
