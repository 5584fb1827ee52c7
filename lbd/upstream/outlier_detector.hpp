// Passive outlier detection: consecutive errors seen in real traffic (connect failures, 5xx,
// timeouts) eject a server for base_ejection_time x (number of ejections), capped, while
// max_ejection_percent keeps a pool from emptying. Pure: time comes from the caller.
//
// Threading: report() is lock-free (one relaxed atomic per server) and may be called from any
// worker thread. Everything else (try_eject, readmit_due, state queries) belongs to the control
// thread. report() only says "the threshold was crossed now"; the caller (HealthManager::report)
// then posts try_eject() to the control thread, so workers never touch the ejection state.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/clock.hpp"
#include "lbd/upstream/health_config.hpp"

namespace lbd {

/// What the proxy saw when it used a server.
enum class TrafficEvent { success, connect_failure, http_5xx, timeout };

class OutlierDetector {
 public:
  /// `servers` = pool size. consecutive_errors == 0 disables detection (report() is a no-op).
  OutlierDetector(OutlierConfig config, std::size_t servers);

  /// Any thread. Counts an error, or resets the count on success. Returns true exactly when this
  /// report made the count reach consecutive_errors (so one post per crossing, not per error).
  bool report(std::size_t server, TrafficEvent event);

  /// Control thread. Ejects `server` until now + base x ejections (capped at max_ejection_time)
  /// unless it is already ejected or max_ejection_percent would be exceeded (then the error count
  /// is reset so that a later crossing asks again). Each base_ejection_time the server stayed
  /// admitted since its last readmission lowers the multiplier by one first. Returns the
  /// readmission time when ejected.
  std::optional<lb::SteadyTime> try_eject(std::size_t server, lb::SteadyTime now);
  /// Control thread. Re-admits every server whose ejection has expired and returns them.
  std::vector<std::size_t> readmit_due(lb::SteadyTime now);
  /// The earliest pending readmission (nullopt when nobody is ejected).
  std::optional<lb::SteadyTime> next_readmission() const;

  bool ejected(std::size_t server) const { return servers_[server].ejected; }
  std::uint32_t ejections(std::size_t server) const { return servers_[server].ejections; }
  std::size_t ejected_count() const;
  /// How many servers may be ejected at once: floor(n x percent / 100), but at least 1 when the
  /// percentage is non-zero and the pool has 2+ servers, and never all of them.
  std::size_t max_ejected() const;
  std::uint32_t error_count(std::size_t server) const {
    return errors_[server].load(std::memory_order_relaxed);
  }
  const OutlierConfig& config() const { return config_; }

 private:
  struct Server {
    bool ejected = false;
    std::uint32_t ejections = 0;  // multiplier of the next ejection time
    lb::SteadyTime until{};
    lb::SteadyTime stable_since{};  // admitted since (for multiplier decay)
  };

  OutlierConfig config_;
  std::vector<Server> servers_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> errors_;
};

}  // namespace lbd
