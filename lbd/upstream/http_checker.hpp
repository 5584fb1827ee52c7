// HTTP health check: one request (method, path, Host), then the status, and optionally the body
// (substring, regex, JSON value) are checked. Boost.Beast stays inside http_checker.cpp.
#pragma once

#include <optional>

#include "common/config/regex.hpp"
#include "lbd/upstream/health_checker.hpp"

namespace lbd {

class HttpChecker final : public HealthChecker {
 public:
  explicit HttpChecker(HealthCheckConfig config);
  /// Up when the response arrives before the deadline, its status is in expect_status and the
  /// body passes every configured body check. Bodies over 1 MiB fail the check.
  lb::awaitable<lb::Result<void>> probe(const Backend& backend,
                                        std::chrono::nanoseconds timeout) override;

  /// The status and body checks on their own (pure; exposed for unit tests).
  lb::Result<void> evaluate(unsigned status, const std::string& body) const;

 private:
  HealthCheckConfig config_;
  std::optional<lb::config::Regex> body_regex_;
};

}  // namespace lbd
