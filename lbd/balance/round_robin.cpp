#include "lbd/balance/round_robin.hpp"

#include "lbd/balance/candidates.hpp"

namespace lbd {

RoundRobinBalancer::RoundRobinBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)), candidates_(usable_candidates(*snapshot_)) {
  std::vector<std::uint64_t> weights;
  for (const auto& c : candidates_) weights.push_back(c.weight);
  wrr_.assign(std::move(weights));
  // Advance by `seed % n` picks so each worker starts elsewhere in the same cycle.
  if (!candidates_.empty()) wrr_.skip(seed % candidates_.size());
}

const Backend* RoundRobinBalancer::pick(const PickContext& ctx) {
  if (wrr_.empty()) return nullptr;
  return candidates_[wrr_.next(candidates_, ctx.avoid)].backend;
}

}  // namespace lbd
