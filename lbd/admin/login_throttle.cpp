#include "lbd/admin/login_throttle.hpp"

#include <algorithm>

namespace lbd::admin {

void LoginThrottle::roll_window(Clock::time_point now) {
  if (now - window_start_ >= std::chrono::seconds(1)) {
    window_start_ = now;
    window_spent_ = std::chrono::nanoseconds(0);
  }
}

bool LoginThrottle::admit(const lb::IpAddress& source, Clock::time_point now) {
  roll_window(now);
  if (window_spent_ >= limits_.budget_per_second) return false;
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (sources_.size() >= limits_.max_sources) {
      // Forget the source seen least recently: its bucket would be (nearly) full again anyway.
      auto oldest = std::min_element(sources_.begin(), sources_.end(), [](auto& a, auto& b) {
        return a.second.updated < b.second.updated;
      });
      sources_.erase(oldest);
    }
    it = sources_.emplace(source, Bucket{limits_.per_source_burst, now}).first;
  }
  auto& b = it->second;
  const std::chrono::duration<double> elapsed = now - b.updated;
  b.tokens = std::min(limits_.per_source_burst,
                      b.tokens + std::max(0.0, elapsed.count()) * limits_.per_source_per_second);
  b.updated = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void LoginThrottle::spent(std::chrono::nanoseconds cost, Clock::time_point now) {
  roll_window(now);
  window_spent_ += cost;
}

}  // namespace lbd::admin
