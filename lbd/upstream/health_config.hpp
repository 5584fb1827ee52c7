// Health configuration of pools and servers: active checks, passive outlier detection, slow start
// and admin state. Plain data plus the readers that fill it from the TOML config.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net/ip_address.hpp"
#include "lbd/balance/admin_state.hpp"

namespace lb::config {
class TableReader;
}

namespace lbd {

namespace proxy {
class UpstreamTlsContext;
}

enum class HealthCheckType { none, tcp, http, exec };

/// An inclusive range of HTTP status codes ("200-399" or a single "204").
struct StatusRange {
  std::uint16_t low = 200;
  std::uint16_t high = 399;
  friend bool operator==(const StatusRange&, const StatusRange&) = default;
};

/// `expect_json = { key = "status", value = "UP" }`: `key` is a dotted path into the body's JSON
/// object; the value there must equal `value` (strings compare as text, others as JSON text).
struct JsonExpectation {
  std::string key;
  std::string value;
};

/// One active check. A pool has one; a server may override any key of it.
struct HealthCheckConfig {
  HealthCheckType type = HealthCheckType::none;
  std::chrono::nanoseconds interval = std::chrono::seconds(2);
  std::chrono::nanoseconds jitter = std::chrono::milliseconds(200);  // +- uniform on each interval
  std::chrono::nanoseconds fast_interval = std::chrono::milliseconds(500);  // while changing state
  std::chrono::nanoseconds timeout = std::chrono::seconds(2);
  std::chrono::nanoseconds start_period = std::chrono::seconds(0);  // failures don't count
  std::uint32_t rise = 2;  // consecutive successes that bring a down server up
  std::uint32_t fall = 3;  // consecutive failures that take an up server down
  bool initially_up = true;
  std::optional<lb::IpAddress> address;  // check this address instead of the server's
  std::uint16_t port = 0;                // check this port instead of the server's (0 = same)
  // http
  std::string method = "GET";
  std::string path = "/";
  std::string host;  // Host header; empty = the checked address
  // (count, value) constructor: an initializer list here trips a g++ 12 false warning.
  std::vector<StatusRange> expect_status = std::vector<StatusRange>(1, StatusRange{200, 399});
  std::string expect_body;        // substring the body must contain
  std::string expect_body_regex;  // RE2 pattern the body must match (search)
  std::optional<JsonExpectation> expect_json;
  // tcp
  std::string send;    // bytes sent after connecting (empty = connect only)
  std::string expect;  // substring the reply must contain (needs `send` or a server banner)
  // exec
  std::string command;  // run with /bin/sh -c; exit 0 = up
  /// http: the pool's [pool.tls] context (set by the config loader, not a key of its own): the
  /// check then speaks HTTPS with the pool's verification settings. Null = plain.
  std::shared_ptr<const proxy::UpstreamTlsContext> tls;
};

/// Passive outlier detection from real traffic (`[pool.outlier]`).
struct OutlierConfig {
  std::uint32_t consecutive_errors = 5;  // 0 = off
  std::chrono::nanoseconds base_ejection_time = std::chrono::seconds(30);
  std::chrono::nanoseconds max_ejection_time = std::chrono::seconds(300);
  std::uint32_t max_ejection_percent = 50;
};

struct PoolHealthConfig {
  HealthCheckConfig check;
  OutlierConfig outlier;
};

struct ServerHealthConfig {
  HealthCheckConfig check;                 // the pool's, with this server's overrides
  std::chrono::nanoseconds slow_start{0};  // 0 = full weight at once
  AdminState state = AdminState::ready;
};

/// Reads `[pool.health]` and `[pool.outlier]` of the pool table `pool` into `out`. Errors go to
/// the reader's diagnostics; the keys read are marked so unknown-key checks see them.
void read_pool_health(lb::config::TableReader& pool, PoolHealthConfig& out);

/// Reads `slow_start`, `state` and `[pool.server.health]` (overrides of `pool.check`) of the
/// server table `server` into `out`.
void read_server_health(lb::config::TableReader& server, const PoolHealthConfig& pool,
                        ServerHealthConfig& out);

/// Reads one check table on top of `base` (keys absent from `table` keep base's values) and
/// validates the result. Exposed for tests.
HealthCheckConfig read_health_check(lb::config::TableReader& table, HealthCheckConfig base);

/// Parses "200", "200-399"; nullopt when invalid (codes 100..599, low <= high).
std::optional<StatusRange> parse_status_range(std::string_view text);

const char* health_check_type_name(HealthCheckType t);

}  // namespace lbd
