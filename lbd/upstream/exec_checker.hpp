// Exec health check: runs a command (/bin/sh -c) with a deadline; exit status 0 means up. The
// child gets LBD_SERVER_NAME, LBD_SERVER_ADDRESS and LBD_SERVER_PORT in its environment.
#pragma once

#include "lbd/upstream/health_checker.hpp"

namespace lbd {

class ExecChecker final : public HealthChecker {
 public:
  explicit ExecChecker(HealthCheckConfig config) : config_(std::move(config)) {}
  /// Runs the command through lb::run_process (common/spawn.hpp): own process group,
  /// stdin/stdout/stderr on /dev/null, waited for without blocking (pidfd). On timeout the group
  /// is killed with SIGKILL by the PID we started (never by name) and reaped. Failure reasons:
  /// "exit status 1", "killed by signal 9", "timeout after 2s", "spawn ...".
  lb::awaitable<lb::Result<void>> probe(const Backend& backend,
                                        std::chrono::nanoseconds timeout) override;

 private:
  HealthCheckConfig config_;
};

}  // namespace lbd
