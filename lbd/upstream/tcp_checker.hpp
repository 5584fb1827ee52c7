// TCP health check: connect; optionally send bytes and expect a reply containing a substring.
#pragma once

#include "lbd/upstream/health_checker.hpp"

namespace lbd {

class TcpChecker final : public HealthChecker {
 public:
  explicit TcpChecker(HealthCheckConfig config) : config_(std::move(config)) {}
  /// Up when the connect succeeds and, if `send`/`expect` are set, the bytes are written and the
  /// reply (read until it contains `expect`, EOF, or 64 KiB) contains `expect`.
  lb::awaitable<lb::Result<void>> probe(const Backend& backend,
                                        std::chrono::nanoseconds timeout) override;

 private:
  HealthCheckConfig config_;
};

}  // namespace lbd
