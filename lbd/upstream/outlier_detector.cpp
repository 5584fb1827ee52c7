// Passive outlier detection (see outlier_detector.hpp).
#include "lbd/upstream/outlier_detector.hpp"

#include <algorithm>

namespace lbd {

OutlierDetector::OutlierDetector(OutlierConfig config, std::size_t servers)
    : config_(config),
      servers_(servers),
      errors_(std::make_unique<std::atomic<std::uint32_t>[]>(servers)) {}

bool OutlierDetector::report(std::size_t server, TrafficEvent event) {
  if (config_.consecutive_errors == 0 || server >= servers_.size()) return false;
  auto& count = errors_[server];
  if (event == TrafficEvent::success) {
    // Read first: most reports are successes on a healthy server, and a store would bounce the
    // cache line between workers for nothing.
    if (count.load(std::memory_order_relaxed) != 0) count.store(0, std::memory_order_relaxed);
    return false;
  }
  return count.fetch_add(1, std::memory_order_relaxed) + 1 == config_.consecutive_errors;
}

std::size_t OutlierDetector::ejected_count() const {
  return static_cast<std::size_t>(
      std::count_if(servers_.begin(), servers_.end(), [](const Server& s) { return s.ejected; }));
}

std::size_t OutlierDetector::max_ejected() const {
  const std::size_t n = servers_.size();
  if (n < 2 || config_.max_ejection_percent == 0) return 0;
  const std::size_t by_percent = n * config_.max_ejection_percent / 100;
  return std::min(std::max<std::size_t>(by_percent, 1), n - 1);
}

std::optional<lb::SteadyTime> OutlierDetector::try_eject(std::size_t server, lb::SteadyTime now) {
  if (server >= servers_.size()) return std::nullopt;
  auto& s = servers_[server];
  errors_[server].store(0, std::memory_order_relaxed);
  if (s.ejected || ejected_count() >= max_ejected()) return std::nullopt;
  // Each base_ejection_time a server stayed admitted earns back one step of its penalty.
  if (s.ejections > 0) {
    const auto steps =
        static_cast<std::uint64_t>((now - s.stable_since) / config_.base_ejection_time);
    s.ejections -= static_cast<std::uint32_t>(std::min<std::uint64_t>(steps, s.ejections));
  }
  s.ejected = true;
  ++s.ejections;
  const auto scaled = config_.base_ejection_time * s.ejections;
  s.until = now + std::min(scaled, config_.max_ejection_time);
  return s.until;
}

std::vector<std::size_t> OutlierDetector::readmit_due(lb::SteadyTime now) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    auto& s = servers_[i];
    if (s.ejected && now >= s.until) {
      s.ejected = false;
      s.stable_since = now;
      errors_[i].store(0, std::memory_order_relaxed);
      out.push_back(i);
    }
  }
  return out;
}

std::optional<lb::SteadyTime> OutlierDetector::next_readmission() const {
  std::optional<lb::SteadyTime> next;
  for (const auto& s : servers_) {
    if (s.ejected && (!next || s.until < *next)) next = s.until;
  }
  return next;
}

}  // namespace lbd
