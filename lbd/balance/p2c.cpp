#include "lbd/balance/p2c.hpp"

#include "lbd/balance/candidates.hpp"

namespace lbd {

P2cBalancer::P2cBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)),
      candidates_(usable_candidates(*snapshot_)),
      draw_(candidates_),
      rng_(seed) {}

const Backend* P2cBalancer::pick(const PickContext& ctx) {
  if (draw_.empty()) return nullptr;
  // Draws are with replacement (as Envoy's least_request): both may be the same candidate.
  const auto& a = candidates_[draw_.draw(candidates_, rng_, ctx.avoid)];
  const auto& b = candidates_[draw_.draw(candidates_, rng_, ctx.avoid)];
  const std::uint64_t load_a = a.backend->active.load(std::memory_order_relaxed);
  const std::uint64_t load_b = b.backend->active.load(std::memory_order_relaxed);
  // load_b / weight_b < load_a / weight_a, without division; ties keep the first draw, so an
  // idle pool is balanced by weight alone.
  return load_b * a.weight < load_a * b.weight ? b.backend : a.backend;
}

}  // namespace lbd
