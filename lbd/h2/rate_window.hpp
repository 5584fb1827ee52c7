// Counts events of one kind in fixed windows of time: the flood defences of an HTTP/2 connection
// (resets, SETTINGS, PING, empty frames) each hold one. Pure; the caller passes the time.
#pragma once

#include <chrono>
#include <cstdint>

namespace lbd::h2 {

class RateWindow {
 public:
  using Clock = std::chrono::steady_clock;

  /// At most `limit` events per `period`; a limit of 0 disables the bound.
  RateWindow(std::uint32_t limit, Clock::duration period) : limit_(limit), period_(period) {}

  /// Counts one event at `now`; true when it is one too many in the current window.
  bool add(Clock::time_point now) {
    if (limit_ == 0) return false;
    if (count_ == 0 || now - start_ >= period_) {
      start_ = now;
      count_ = 0;
    }
    return ++count_ > limit_;
  }

 private:
  std::uint32_t limit_;
  Clock::duration period_;
  Clock::time_point start_{};
  std::uint32_t count_ = 0;
};

}  // namespace lbd::h2
