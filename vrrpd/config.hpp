// vrrpd's configuration model and its TOML loader. Every error is collected; intervals that the
// VRRPv3 wire format cannot carry are errors, never silently replaced.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/config/diagnostics.hpp"
#include "common/net/ip_address.hpp"

namespace vrrp {

struct InstanceConfig {
  std::string name;
  std::uint8_t vrid = 0;
  std::string interface;
  std::uint8_t priority = 100;
  /// RFC 5798 §5.2.7: 12-bit field in centiseconds, so 10ms .. 40.95s in 10ms steps.
  std::chrono::milliseconds advert_interval{1000};
  bool preempt = true;
  bool accept_mode = false;
  std::vector<lb::Cidr> vips;
  std::vector<lb::IpAddress> unicast_peers;
};

struct Config {
  std::string source_file;
  std::string log_level = "info";
  std::vector<InstanceConfig> instances;
};

Config load_config(const std::string& path, lb::config::Diagnostics& diags);
Config load_config_from_string(std::string_view text, const std::string& name,
                               lb::config::Diagnostics& diags);

}  // namespace vrrp
