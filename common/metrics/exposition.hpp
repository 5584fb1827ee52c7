// A writer for the Prometheus text exposition format 0.0.4: metric families with # HELP and
// # TYPE, samples with escaped labels, histograms as cumulative _bucket/_sum/_count series.
// Pure code (no I/O); lbd and vrrpd both render their /metrics bodies with it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lb::metrics {

/// The Content-Type of a body written by Exposition.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class Type { counter, gauge, histogram };

struct Label {
  std::string_view name;
  std::string_view value;
};
using Labels = std::initializer_list<Label>;

/// True for a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
bool valid_metric_name(std::string_view name);
/// True for a valid label name: [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__".
bool valid_label_name(std::string_view name);
/// A label value escaped for the text format: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);
/// HELP text escaped for the text format: backslash and newline.
std::string escape_help(std::string_view help);
/// A sample value as the text format writes it: integers without exponent, +Inf, -Inf, NaN.
std::string format_value(double value);

/// Non-cumulative bucket counts of one histogram series (`counts[i]` = observations in
/// (bounds[i-1], bounds[i]]; one more count than bounds for the +Inf bucket), their sum and count.
struct HistogramValue {
  std::span<const double> bounds;
  std::span<const std::uint64_t> counts;  // bounds.size() + 1 entries
  double sum = 0;
};

/// Builds one exposition body. Call family() once per metric name, then its samples. Names and
/// label names are the caller's constants: an invalid one is a programming error and throws
/// std::invalid_argument (never from data). Not thread-safe; the caller gathers the values.
class Exposition {
 public:
  /// Starts a family: writes # HELP and # TYPE. A second call with the same name throws.
  void family(std::string_view name, std::string_view help, Type type);
  /// One sample of the current family (counter or gauge).
  void sample(Labels labels, double value);
  void sample(std::span<const Label> labels, double value);
  /// One histogram series of the current family: name_bucket{...,le="b"} (cumulative, ending with
  /// le="+Inf"), name_sum and name_count.
  void histogram(std::span<const Label> labels, const HistogramValue& value);
  void histogram(Labels labels, const HistogramValue& value) {
    histogram(std::span<const Label>(labels.begin(), labels.size()), value);
  }

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void write_series(std::string_view suffix, std::span<const Label> labels,
                    std::string_view extra_name, std::string_view extra_value, double value);

  std::string out_;
  std::string current_;
  Type type_ = Type::counter;
  std::vector<std::string> names_;
};

}  // namespace lb::metrics
