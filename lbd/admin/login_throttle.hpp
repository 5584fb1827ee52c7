// Bounds what failed logins on the admin listener can cost the control thread: every password
// check is a crypt(3) run (milliseconds to tens of milliseconds of CPU, by design), so checks are
// admitted only within a CPU budget per second for all clients together and a small token bucket
// per source address. Pure: the caller passes the time and the measured cost of each check.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>

#include "common/net/ip_address.hpp"

namespace lbd::admin {

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  struct Limits {
    /// crypt(3) time all clients together may use per second; one check is always admitted in
    /// a second with nothing spent, however slow the hash.
    std::chrono::nanoseconds budget_per_second = std::chrono::milliseconds(100);
    /// Checks one source may burst, then `per_source_per_second` on average.
    double per_source_burst = 5;
    double per_source_per_second = 1;
    /// Sources remembered; beyond this the least recently seen is forgotten.
    std::size_t max_sources = 1024;
  };

  LoginThrottle() : LoginThrottle(Limits{}) {}
  explicit LoginThrottle(Limits limits) : limits_(limits) {}

  /// Whether a password check for `source` may run now (takes the source's token if so).
  bool admit(const lb::IpAddress& source, Clock::time_point now);
  /// Records the CPU time one admitted check took.
  void spent(std::chrono::nanoseconds cost, Clock::time_point now);
  std::size_t sources() const { return sources_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
  };
  void roll_window(Clock::time_point now);

  Limits limits_;
  std::map<lb::IpAddress, Bucket> sources_;
  Clock::time_point window_start_{};
  std::chrono::nanoseconds window_spent_{0};
};

}  // namespace lbd::admin
