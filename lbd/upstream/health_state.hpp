// The pure rise/fall/start-period counter of one server's active health: it turns a stream of
// check results into up/down flips. No I/O, no logging; time comes from an injected lb::Clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.hpp"

namespace lbd {

enum class CheckOutcome { success, failure };

class HealthState {
 public:
  struct Options {
    std::uint32_t rise = 2;  // consecutive successes to go up (>= 1)
    std::uint32_t fall = 3;  // consecutive failures to go down (>= 1)
    std::chrono::nanoseconds start_period{0};
    bool initially_up = true;
  };

  /// The start period begins now (construction time on `clock`). `clock` must outlive this.
  HealthState(Options options, const lb::Clock& clock);

  /// Applies one check result. Returns true when the state flipped (up->down or down->up).
  /// A failure inside the start period is ignored entirely (it neither counts nor resets the
  /// rise counter); successes always count. `reason` is kept as last_reason() (for logs).
  bool record(CheckOutcome outcome, std::string_view reason = {});

  bool up() const { return up_; }
  /// True while a flip is under way: an up server has failed at least once (fewer than `fall`
  /// times) or a down server has succeeded at least once (fewer than `rise` times).
  bool transitioning() const { return streak_ > 0; }
  /// Consecutive results counting toward the next flip.
  std::uint32_t streak() const { return streak_; }
  bool in_start_period() const;
  const std::string& last_reason() const { return last_reason_; }
  /// When the state last flipped (construction time if never).
  lb::SteadyTime last_change() const { return last_change_; }
  /// Forces a state (e.g. an operator's decision); resets the streak. Returns true if it changed.
  bool force(bool up);

 private:
  Options options_;
  const lb::Clock* clock_;
  lb::SteadyTime started_;
  lb::SteadyTime last_change_;
  bool up_;
  std::uint32_t streak_ = 0;
  std::string last_reason_;
};

}  // namespace lbd
