#include "common/metrics/exposition.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace lb::metrics {
namespace {

bool name_char(char c, bool first, bool colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (alpha || (colon && c == ':')) return true;
  return !first && c >= '0' && c <= '9';
}

std::string_view type_name(Type t) {
  switch (t) {
    case Type::counter:
      return "counter";
    case Type::gauge:
      return "gauge";
    case Type::histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, true)) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, false)) return false;
  }
  return true;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integers (counters, most gauges) print exactly; fractional values in the shortest form
  // that reads back to the same double.
  if (value == std::trunc(value) && std::fabs(value) < 9.007199254740992e15) {
    return fmt::format("{}", static_cast<long long>(value));
  }
  return fmt::format("{}", value);
}

void Exposition::family(std::string_view name, std::string_view help, Type type) {
  if (!valid_metric_name(name)) {
    throw std::invalid_argument(fmt::format("invalid metric name \"{}\"", name));
  }
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) {
    throw std::invalid_argument(fmt::format("metric family \"{}\" written twice", name));
  }
  names_.emplace_back(name);
  current_.assign(name);
  type_ = type;
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help),
                 name, type_name(type));
}

void Exposition::sample(Labels labels, double value) {
  sample(std::span<const Label>(labels.begin(), labels.size()), value);
}

void Exposition::sample(std::span<const Label> labels, double value) {
  if (current_.empty()) throw std::invalid_argument("sample before family()");
  if (type_ == Type::histogram) throw std::invalid_argument("sample() on a histogram family");
  write_series("", labels, {}, {}, value);
}

void Exposition::histogram(std::span<const Label> labels, const HistogramValue& value) {
  if (type_ != Type::histogram) throw std::invalid_argument("histogram() on a non-histogram");
  if (value.counts.size() != value.bounds.size() + 1) {
    throw std::invalid_argument("histogram counts must have one entry more than bounds");
  }
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < value.bounds.size(); ++i) {
    cumulative += value.counts[i];
    write_series("_bucket", labels, "le", format_value(value.bounds[i]),
                 static_cast<double>(cumulative));
  }
  cumulative += value.counts.back();
  write_series("_bucket", labels, "le", "+Inf", static_cast<double>(cumulative));
  write_series("_sum", labels, {}, {}, value.sum);
  write_series("_count", labels, {}, {}, static_cast<double>(cumulative));
}

void Exposition::write_series(std::string_view suffix, std::span<const Label> labels,
                              std::string_view extra_name, std::string_view extra_value,
                              double value) {
  out_ += current_;
  out_ += suffix;
  if (!labels.empty() || !extra_name.empty()) {
    out_ += '{';
    bool first = true;
    for (const auto& l : labels) {
      if (!valid_label_name(l.name)) {
        throw std::invalid_argument(fmt::format("invalid label name \"{}\"", l.name));
      }
      fmt::format_to(std::back_inserter(out_), "{}{}=\"{}\"", first ? "" : ",", l.name,
                     escape_label_value(l.value));
      first = false;
    }
    if (!extra_name.empty()) {
      fmt::format_to(std::back_inserter(out_), "{}{}=\"{}\"", first ? "" : ",", extra_name,
                     extra_value);
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

}  // namespace lb::metrics
