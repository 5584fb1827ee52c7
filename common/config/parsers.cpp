#include "common/config/parsers.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "common/format.hpp"

namespace lb::config {
namespace {

struct NumberAndUnit {
  double value = 0;
  std::string_view unit;
};

// Splits "1.5ms" into 1.5 and "ms". Only plain decimal numbers are accepted (no exponent, sign).
std::expected<NumberAndUnit, std::string> split_number(std::string_view text) {
  std::size_t i = 0;
  bool seen_digit = false;
  bool seen_dot = false;
  while (i < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[i])) || (text[i] == '.' && !seen_dot))) {
    seen_dot |= text[i] == '.';
    seen_digit |= text[i] != '.';
    ++i;
  }
  if (!seen_digit) return std::unexpected("expected a number");
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, value);
  if (ec != std::errc() || ptr != text.data() + i) return std::unexpected("expected a number");
  std::string_view unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return NumberAndUnit{value, unit};
}

}  // namespace

std::expected<std::chrono::nanoseconds, std::string> parse_duration(std::string_view text) {
  constexpr auto kSyntax =
      "expected a duration such as \"100us\", \"250ms\", \"5s\", \"1m\", \"1h\"";
  auto parsed = split_number(text);
  if (!parsed) return std::unexpected(fmt::format("invalid duration \"{}\": {}", text, kSyntax));
  double scale = 0;
  const auto unit = parsed->unit;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us")
    scale = 1e3;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "s")
    scale = 1e9;
  else if (unit == "m")
    scale = 60e9;
  else if (unit == "h")
    scale = 3600e9;
  else if (unit.empty()) {
    return std::unexpected(fmt::format("duration \"{}\" has no unit: {}", text, kSyntax));
  } else {
    return std::unexpected(fmt::format("unknown duration unit \"{}\": {}", unit, kSyntax));
  }
  const double ns = parsed->value * scale;
  if (ns > static_cast<double>(std::numeric_limits<std::int64_t>::max() / 2)) {
    return std::unexpected(fmt::format("duration \"{}\" is too large", text));
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
}

std::expected<std::uint64_t, std::string> parse_size(std::string_view text) {
  constexpr auto kSyntax = "expected a size such as \"512B\", \"64KiB\", \"1MiB\", \"2GiB\"";
  auto parsed = split_number(text);
  if (!parsed) return std::unexpected(fmt::format("invalid size \"{}\": {}", text, kSyntax));
  double scale = 0;
  const auto unit = parsed->unit;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KiB")
    scale = 1024.0;
  else if (unit == "MiB")
    scale = 1024.0 * 1024;
  else if (unit == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "KB" || unit == "kB")
    scale = 1e3;
  else if (unit == "MB")
    scale = 1e6;
  else if (unit == "GB")
    scale = 1e9;
  else
    return std::unexpected(fmt::format("unknown size unit \"{}\": {}", unit, kSyntax));
  const double bytes = parsed->value * scale;
  if (bytes != std::floor(bytes)) {
    return std::unexpected(fmt::format("size \"{}\" is not a whole number of bytes", text));
  }
  if (bytes > 9.0e18) return std::unexpected(fmt::format("size \"{}\" is too large", text));
  return static_cast<std::uint64_t>(bytes);
}

std::expected<Endpoint, std::string> parse_endpoint(std::string_view text) {
  if (auto e = Endpoint::parse(text)) return *e;
  return std::unexpected(fmt::format(
      "invalid endpoint \"{}\": expected \"192.0.2.1:80\" or \"[2001:db8::1]:80\"", text));
}

std::expected<Cidr, std::string> parse_cidr(std::string_view text) {
  if (auto c = Cidr::parse(text)) return *c;
  return std::unexpected(fmt::format(
      "invalid prefix \"{}\": expected \"10.0.0.0/8\", \"2001:db8::/32\" or an address", text));
}

}  // namespace lb::config

namespace lb {

std::string format_duration(std::chrono::nanoseconds d) {
  const auto ns = d.count();
  if (ns % 3'600'000'000'000LL == 0 && ns != 0) return fmt::format("{}h", ns / 3'600'000'000'000LL);
  if (ns % 60'000'000'000LL == 0 && ns != 0) return fmt::format("{}m", ns / 60'000'000'000LL);
  if (ns >= 1'000'000'000LL) return fmt::format("{:g}s", static_cast<double>(ns) / 1e9);
  if (ns >= 1'000'000LL) return fmt::format("{:g}ms", static_cast<double>(ns) / 1e6);
  if (ns >= 1'000LL) return fmt::format("{:g}us", static_cast<double>(ns) / 1e3);
  return fmt::format("{}ns", ns);
}

}  // namespace lb
