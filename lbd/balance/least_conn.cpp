#include "lbd/balance/least_conn.hpp"

#include <cstdint>
#include <numeric>

#include "lbd/balance/candidates.hpp"

namespace lbd {

LeastConnBalancer::LeastConnBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)), candidates_(usable_candidates(*snapshot_)) {
  if (candidates_.empty()) return;
  start_ = seed % candidates_.size();
  // active ÷ weight compares exactly as active × (L ÷ weight) with L the lcm of the weights: one
  // multiplication per server instead of a cross-multiplication with the best so far. Weights
  // ≤ 256 keep L ≤ 2^32 in all but contrived pools, which take the general path.
  std::uint64_t lcm = 1;
  for (const auto& c : candidates_) {
    lcm = std::lcm(lcm, std::uint64_t{c.weight});
    if (lcm > (std::uint64_t{1} << 32)) return;
  }
  for (const auto& c : candidates_) scale_.push_back(lcm / c.weight);
}

std::size_t LeastConnBalancer::least(const Backend* skip) const {
  const auto n = candidates_.size();
  std::size_t best = n;
  if (!scale_.empty()) {
    std::uint64_t best_score = UINT64_MAX;  // scores stay < 2^64: active < 2^32, scale ≤ 2^32
    auto scan = [&](std::size_t from, std::size_t to) {
      for (std::size_t i = from; i < to; ++i) {
        const Backend* b = candidates_[i].backend;
        const std::uint64_t score = b->active.load(std::memory_order_relaxed) * scale_[i];
        if (score < best_score && b != skip) {
          best = i;
          best_score = score;
        }
      }
    };
    // From the rotating start to the end, then from 0: ties go to the first seen.
    scan(start_, n);
    scan(0, start_);
    return best;
  }
  std::uint64_t best_active = 0, best_weight = 1;  // in registers: no load chain through `best`
  auto scan = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      const auto& c = candidates_[i];
      const std::uint64_t active = c.backend->active.load(std::memory_order_relaxed);
      // active / weight < best_active / best_weight, without division.
      if ((best == n || active * best_weight < best_active * c.weight) && c.backend != skip) {
        best = i;
        best_active = active;
        best_weight = c.weight;
      }
    }
  };
  scan(start_, n);
  scan(0, start_);
  return best;
}

const Backend* LeastConnBalancer::pick(const PickContext& ctx) {
  const auto n = candidates_.size();
  if (n == 0) return nullptr;
  if (n == 1) return candidates_[0].backend;
  auto best = least(nullptr);
  // Retries are rare: rescan without the avoided backend only when it won.
  if (ctx.avoid != nullptr && candidates_[best].backend == ctx.avoid) best = least(ctx.avoid);
  start_ = start_ + 1 == n ? 0 : start_ + 1;
  return candidates_[best].backend;  // n ≥ 2, so at most one was avoided
}

}  // namespace lbd
