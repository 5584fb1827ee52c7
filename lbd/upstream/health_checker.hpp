// The active health-check interface and its factory. Checkers are Asio coroutines that run on the
// control thread's io_context, never on a worker; each probe has its own deadline.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "lbd/balance/backend.hpp"
#include "lbd/upstream/health_config.hpp"

namespace lbd {

/// One kind of check with its configuration. probe() may run for several backends at once on a
/// single-threaded io_context; implementations keep no per-probe state in members.
class HealthChecker {
 public:
  virtual ~HealthChecker() = default;
  /// Checks `backend` (or the configured address/port override) once, giving up after `timeout`.
  /// Success, or an Error whose message is the reason for logs: "status 503",
  /// "connect: connection refused", "timeout after 2s". Never throws for network failures.
  virtual lb::awaitable<lb::Result<void>> probe(const Backend& backend,
                                                std::chrono::nanoseconds timeout) = 0;
};

/// The checker for `config.type`; nullptr for type none (no active check: the server stays up).
std::unique_ptr<HealthChecker> make_health_checker(const HealthCheckConfig& config);

/// The address a check of `backend` targets: the server's, with the address and port overrides.
lb::Endpoint check_target(const HealthCheckConfig& config, const Backend& backend);

/// "2s", "250ms", "1.5s", "100us": how a duration reads in a failure reason.
std::string describe_duration(std::chrono::nanoseconds d);
/// "timeout after 2s".
std::string timeout_reason(std::chrono::nanoseconds timeout);
/// "connect: connection refused" (operation, then the lower-cased system message).
std::string io_reason(std::string_view operation, const lb::error_code& ec);

}  // namespace lbd
