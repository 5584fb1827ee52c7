// fmt formatters for the project's value types (fmt 9 does not use operator<<).
#pragma once

#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/net/ip_address.hpp"

template <>
struct fmt::formatter<lb::IpAddress> : fmt::formatter<std::string_view> {
  auto format(const lb::IpAddress& a, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(a.to_string(), ctx);
  }
};

template <>
struct fmt::formatter<lb::Endpoint> : fmt::formatter<std::string_view> {
  auto format(const lb::Endpoint& e, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(e.to_string(), ctx);
  }
};

template <>
struct fmt::formatter<lb::Cidr> : fmt::formatter<std::string_view> {
  auto format(const lb::Cidr& c, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(c.to_string(), ctx);
  }
};

namespace lb {
/// "1.5s", "250ms", "40us": a duration in the largest unit that keeps it exact to 3 decimals.
std::string format_duration(std::chrono::nanoseconds d);
}  // namespace lb
