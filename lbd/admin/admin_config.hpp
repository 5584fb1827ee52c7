// [admin] (the admin HTTP listener: /metrics, /status, /status.json) and [access_log] in
// lbd.toml. Read here, not in lbd/config.cpp, so the keys, their checks and tests live together.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net/ip_address.hpp"

namespace lb::config {
class TableReader;
}

namespace lbd {

struct AdminConfig {
  lb::Endpoint listen;
  /// Clients allowed to connect (checked before authentication). Empty = everyone.
  std::vector<lb::Cidr> allow;
  /// Basic authentication: user name → crypt(3) hash ("$6$..." from `openssl passwd -6`, or
  /// yescrypt "$y$..." from mkpasswd). Empty = no authentication.
  std::vector<std::pair<std::string, std::string>> users;
  std::uint32_t max_connections = 64;
  std::chrono::nanoseconds request_timeout = std::chrono::seconds(5);
  std::uint64_t max_request_size = 8 * 1024;

  friend bool operator==(const AdminConfig&, const AdminConfig&) = default;
};

struct AccessLogConfig {
  /// "" = off, "-" = stderr, else a file path (opened for appending).
  std::string path;
  /// "json", or a template with {field} placeholders (see access_log_format.hpp).
  std::string format = "json";
  /// Lines waiting for the writer thread; beyond this, lines are dropped and counted.
  std::uint32_t queue_lines = 8192;

  bool enabled() const { return !path.empty(); }
  friend bool operator==(const AccessLogConfig&, const AccessLogConfig&) = default;
};

/// Reads the optional `[admin]` table of `root`; nullopt when absent (no admin listener). Bad
/// values, an unreadable `auth_file`, a hash crypt(3) cannot use and unknown keys become
/// diagnostics. Not thread-safe.
std::optional<AdminConfig> read_admin(lb::config::TableReader& root);
/// Reads the optional `[access_log]` table (defaults when absent); a template with an unknown
/// field is a diagnostic.
AccessLogConfig read_access_log(lb::config::TableReader& root);

}  // namespace lbd
