// Clock interface so that timers, TTLs and health counters can be tested with a manual clock.
#pragma once

#include <atomic>
#include <chrono>

namespace lb {

using SteadyTime = std::chrono::steady_clock::time_point;
using Duration = std::chrono::nanoseconds;

/// Source of monotonic time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() const = 0;
};

/// The real monotonic clock.
class SteadyClock final : public Clock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  /// A process-wide instance for code that does not need injection.
  static const SteadyClock& instance() {
    static const SteadyClock clock;
    return clock;
  }
};

/// A clock that only moves when a test says so. Starts at an arbitrary non-zero epoch.
class ManualClock final : public Clock {
 public:
  ManualClock() : ticks_(std::chrono::hours(1).count() * 1'000'000'000LL) {}
  SteadyTime now() const override {
    return SteadyTime(Duration(ticks_.load(std::memory_order_acquire)));
  }
  void advance(Duration d) { ticks_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<Duration::rep> ticks_;
};

}  // namespace lb
