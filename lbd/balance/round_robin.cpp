#include "lbd/balance/round_robin.hpp"

#include "lbd/balance/candidates.hpp"

namespace lbd {

RoundRobinBalancer::RoundRobinBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)),
      candidates_(usable_candidates(*snapshot_)),
      current_(candidates_.size(), 0) {
  for (const auto& c : candidates_) total_weight_ += c.weight;
  // Advance by `seed % n` picks so each worker starts elsewhere in the same cycle.
  if (!current_.empty()) {
    const auto skip = seed % current_.size();
    for (std::uint64_t i = 0; i < skip; ++i) pick(PickContext{});
  }
}

const Backend* RoundRobinBalancer::pick(const PickContext& ctx) {
  const auto& candidates = candidates_;
  if (candidates.empty()) return nullptr;
  std::size_t best = candidates.size();
  std::size_t best_any = candidates.size();  // winner if `avoid` is the only choice
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    current_[i] += candidates[i].weight;
    if (best_any == candidates.size() || current_[i] > current_[best_any]) best_any = i;
    if (candidates[i].backend == ctx.avoid) continue;
    if (best == candidates.size() || current_[i] > current_[best]) best = i;
  }
  if (best == candidates.size()) best = best_any;
  current_[best] -= total_weight_;
  return candidates[best].backend;
}

}  // namespace lbd
