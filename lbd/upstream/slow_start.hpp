// Slow start: after a server comes back (up again, re-admitted, or out of maintenance), its
// effective weight ramps linearly from ~0 to the configured weight over a window. Pure.
#pragma once

#include <chrono>
#include <cstdint>

#include "common/clock.hpp"

namespace lbd {

/// The effective weight `elapsed` into a ramp of length `window`: configured * elapsed / window,
/// rounded down but at least 1 (a weight-0 server stays 0), and `configured` once elapsed >=
/// window or when window is 0. Integer weights limit the resolution: a weight-1 server has no
/// visible ramp, so use weights like 10 or 100 with slow start.
std::uint32_t slow_start_weight(std::uint32_t configured, std::chrono::nanoseconds window,
                                std::chrono::nanoseconds elapsed);

/// One server's ramp, timed on an injected clock. Not thread-safe (control thread).
class SlowStart {
 public:
  /// No ramp is running until restart(). `clock` must outlive this.
  SlowStart(std::chrono::nanoseconds window, const lb::Clock& clock)
      : window_(window), clock_(&clock) {}

  /// Starts (or restarts) the ramp now. A zero window means no ramp.
  void restart() {
    started_ = clock_->now();
    running_ = window_.count() > 0;
  }
  /// True while the ramp is still below the full weight.
  bool active() const { return running_ && clock_->now() - started_ < window_; }
  /// The weight to publish now for a server configured with `configured`.
  std::uint32_t weight(std::uint32_t configured) const {
    if (!active()) return configured;
    return slow_start_weight(configured, window_, clock_->now() - started_);
  }
  std::chrono::nanoseconds window() const { return window_; }

 private:
  std::chrono::nanoseconds window_;
  const lb::Clock* clock_;
  lb::SteadyTime started_{};
  bool running_ = false;
};

}  // namespace lbd
