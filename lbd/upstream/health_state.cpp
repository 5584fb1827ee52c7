// The rise/fall/start-period counter of one server (see health_state.hpp).
#include "lbd/upstream/health_state.hpp"

#include <algorithm>

namespace lbd {

HealthState::HealthState(Options options, const lb::Clock& clock)
    : options_(options),
      clock_(&clock),
      started_(clock.now()),
      last_change_(started_),
      up_(options.initially_up) {
  options_.rise = std::max<std::uint32_t>(options_.rise, 1);
  options_.fall = std::max<std::uint32_t>(options_.fall, 1);
}

bool HealthState::in_start_period() const {
  return clock_->now() < started_ + options_.start_period;
}

bool HealthState::record(CheckOutcome outcome, std::string_view reason) {
  const bool success = outcome == CheckOutcome::success;
  if (!success && in_start_period()) return false;
  last_reason_.assign(reason);
  // A result that agrees with the current state ends any streak toward a flip.
  if (success == up_) {
    streak_ = 0;
    return false;
  }
  ++streak_;
  if (streak_ < (up_ ? options_.fall : options_.rise)) return false;
  up_ = !up_;
  streak_ = 0;
  last_change_ = clock_->now();
  return true;
}

bool HealthState::force(bool up) {
  streak_ = 0;
  if (up == up_) return false;
  up_ = up;
  last_change_ = clock_->now();
  return true;
}

}  // namespace lbd
