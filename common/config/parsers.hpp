// Parsers for the value syntaxes used in lbpair's TOML files: durations, sizes, endpoints, CIDRs.
// Pure functions: each returns the value or a message saying what the accepted syntax is.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "common/net/ip_address.hpp"

namespace lb::config {

/// "250ms", "5s", "1m", "1h", "100us", "1.5s". A unit is required; negative values are refused.
std::expected<std::chrono::nanoseconds, std::string> parse_duration(std::string_view text);

/// "64KiB", "1MiB", "2GiB", "512B", "10KB" (decimal), or a bare number of bytes.
std::expected<std::uint64_t, std::string> parse_size(std::string_view text);

/// "192.0.2.1:80" or "[2001:db8::1]:80".
std::expected<Endpoint, std::string> parse_endpoint(std::string_view text);

/// "10.0.0.0/8", "2001:db8::/32", or a bare address (a host prefix).
std::expected<Cidr, std::string> parse_cidr(std::string_view text);

}  // namespace lb::config
