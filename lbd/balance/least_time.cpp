#include "lbd/balance/least_time.hpp"

#include <algorithm>
#include <cmath>

#include "lbd/balance/candidates.hpp"

namespace lbd {

void record_latency(const Backend& b, std::chrono::nanoseconds sample, lb::SteadyTime now,
                    std::chrono::nanoseconds decay) {
  const std::uint64_t s = static_cast<std::uint64_t>(std::max<std::int64_t>(sample.count(), 1));
  const std::int64_t now_ns = now.time_since_epoch().count();
  const std::int64_t before = b.latency_stamp_ns.exchange(now_ns, std::memory_order_relaxed);
  const double elapsed = static_cast<double>(std::max<std::int64_t>(now_ns - before, 0));
  const double tau = static_cast<double>(std::max<std::int64_t>(decay.count(), 1));
  const double keep = std::exp(-elapsed / tau);

  auto current = b.latency_ewma_ns.load(std::memory_order_relaxed);
  std::uint64_t next = 0;
  do {
    if (current == 0 || s >= current) {
      next = s;  // first sample, or a peak: take it at once
    } else {
      next = static_cast<std::uint64_t>(static_cast<double>(current) * keep +
                                        static_cast<double>(s) * (1.0 - keep));
      next = std::max<std::uint64_t>(next, 1);
    }
  } while (!b.latency_ewma_ns.compare_exchange_weak(current, next, std::memory_order_relaxed));
}

LeastTimeBalancer::LeastTimeBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)),
      candidates_(usable_candidates(*snapshot_)),
      latency_(candidates_.size()) {
  if (!candidates_.empty()) start_ = seed % candidates_.size();
}

const Backend* LeastTimeBalancer::pick(const PickContext& ctx) {
  const auto n = candidates_.size();
  if (n == 0) return nullptr;
  if (n == 1) return candidates_[0].backend;
  std::uint64_t sum = 0;
  std::uint64_t sampled = 0;
  for (std::size_t i = 0; i < n; ++i) {
    latency_[i] = candidates_[i].backend->latency_ewma_ns.load(std::memory_order_relaxed);
    sum += latency_[i];
    sampled += latency_[i] != 0;
  }
  const std::uint64_t unsampled_cost = sampled == 0 ? 1 : std::max<std::uint64_t>(sum / sampled, 1);

  std::size_t best = n;
  double best_cost = 0;
  std::size_t i = start_;
  for (std::size_t k = 0; k < n; ++k, i = (i + 1 == n ? 0 : i + 1)) {
    const auto& c = candidates_[i];
    if (c.backend == ctx.avoid) continue;
    const auto latency = latency_[i] != 0 ? latency_[i] : unsampled_cost;
    const auto active = c.backend->active.load(std::memory_order_relaxed);
    // Doubles: latency (up to ~1e11 ns) × connections × weights would overflow 64 bits.
    const double cost =
        static_cast<double>(latency) * (static_cast<double>(active) + 1.0) / c.weight;
    if (best == n || cost < best_cost) {
      best = i;
      best_cost = cost;
    }
  }
  start_ = start_ + 1 == n ? 0 : start_ + 1;
  return candidates_[best].backend;  // n ≥ 2, so at most one was avoided
}

}  // namespace lbd
