#include "lbd/balance/least_conn.hpp"

#include "lbd/balance/candidates.hpp"

namespace lbd {

LeastConnBalancer::LeastConnBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)), candidates_(usable_candidates(*snapshot_)) {
  if (!candidates_.empty()) start_ = seed % candidates_.size();
}

const Backend* LeastConnBalancer::pick(const PickContext& ctx) {
  const auto n = candidates_.size();
  if (n == 0) return nullptr;
  if (n == 1) return candidates_[0].backend;
  const Candidate* best = nullptr;
  std::uint64_t best_active = 0;
  std::size_t i = start_;
  for (std::size_t k = 0; k < n; ++k, i = (i + 1 == n ? 0 : i + 1)) {
    const auto& c = candidates_[i];
    if (c.backend == ctx.avoid) continue;
    const std::uint64_t active = c.backend->active.load(std::memory_order_relaxed);
    // active / weight < best_active / best_weight, without division.
    if (best == nullptr || active * best->weight < best_active * c.weight) {
      best = &c;
      best_active = active;
    }
  }
  start_ = start_ + 1 == n ? 0 : start_ + 1;
  return best->backend;  // n ≥ 2, so at most one was avoided
}

}  // namespace lbd
