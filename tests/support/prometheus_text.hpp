// A strict parser of the Prometheus text exposition format 0.0.4 for tests: every line must be a
// HELP, a TYPE or a sample; names must be valid; every sample must belong to a family declared by
// HELP and TYPE before it; histograms must have monotone buckets ending in +Inf == _count.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lb::test {

struct PromSample {
  std::string name;  // full series name (with _bucket/_sum/_count)
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromFamily {
  std::string help;
  std::string type;
  std::vector<PromSample> samples;
};

struct PromText {
  std::map<std::string, PromFamily> families;

  /// The value of the sample `name` whose labels include every one of `labels`; nullopt when
  /// none or more than one matches.
  std::optional<double> value(std::string_view name,
                              const std::map<std::string, std::string>& labels = {}) const;
  /// Sum over every sample `name` whose labels include `labels`.
  double sum(std::string_view name, const std::map<std::string, std::string>& labels = {}) const;
};

/// Parses `text` strictly. On the first violation returns nullopt and puts "line N: why" in
/// `error`.
std::optional<PromText> parse_prometheus_text(std::string_view text, std::string& error);

}  // namespace lb::test
