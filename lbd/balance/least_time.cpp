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
    : snapshot_(std::move(snapshot)), candidates_(usable_candidates(*snapshot_)) {
  for (const auto& c : candidates_) inverse_weight_.push_back(1.0 / c.weight);
  if (!candidates_.empty()) start_ = seed % candidates_.size();
  update_unsampled_latency();
}

void LeastTimeBalancer::update_unsampled_latency() {
  std::int64_t sum = 0, sampled = 0;
  for (const auto& c : candidates_) {
    const auto latency =
        static_cast<std::int64_t>(c.backend->latency_ewma_ns.load(std::memory_order_relaxed));
    sum += latency;
    sampled += latency != 0;
  }
  unsampled_latency_ = sampled == 0 ? 1.0 : static_cast<double>(sum) / static_cast<double>(sampled);
}

std::size_t LeastTimeBalancer::least(const Backend* skip) const {
  const auto n = candidates_.size();
  std::size_t best = n;
  double best_cost = 0;
  const double unsampled = unsampled_latency_;
  auto scan = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      const Backend* b = candidates_[i].backend;
      // Via int64: latencies are far below 2^63, and an unsigned 64-bit conversion to double is a
      // branchy sequence on x86-64 without AVX-512.
      const auto latency =
          static_cast<std::int64_t>(b->latency_ewma_ns.load(std::memory_order_relaxed));
      const auto active = b->active.load(std::memory_order_relaxed);
      const double cost = (latency != 0 ? static_cast<double>(latency) : unsampled) *
                          (static_cast<double>(active) + 1.0) * inverse_weight_[i];
      if ((best == n || cost < best_cost) && b != skip) {
        best = i;
        best_cost = cost;
      }
    }
  };
  // From the rotating start to the end, then from 0: ties go to the first seen.
  scan(start_, n);
  scan(0, start_);
  return best;
}

const Backend* LeastTimeBalancer::pick(const PickContext& ctx) {
  const auto n = candidates_.size();
  if (n == 0) return nullptr;
  if (n == 1) return candidates_[0].backend;
  // The mean latency for servers without samples moves slowly: refresh it every 64 picks
  // rather than paying a second sum on every pick.
  if ((++picks_ & 63) == 0) update_unsampled_latency();
  auto best = least(nullptr);
  // Retries are rare: rescan without the avoided backend only when it won.
  if (ctx.avoid != nullptr && candidates_[best].backend == ctx.avoid) best = least(ctx.avoid);
  start_ = start_ + 1 == n ? 0 : start_ + 1;
  return candidates_[best].backend;  // n ≥ 2, so at most one was avoided
}

}  // namespace lbd
