// Weighted random: each pick draws a candidate with probability weight ÷ total weight (O(1),
// alias method).
#pragma once

#include <vector>

#include "lbd/balance/balancer.hpp"
#include "lbd/balance/rng.hpp"
#include "lbd/balance/weighted_sampler.hpp"

namespace lbd {

/// A weighted draw that honours `avoid`: redraws a few times, then takes the next candidate in
/// order, so the avoided backend is returned only when it is the only candidate. Shared by random
/// and p2c.
class WeightedDraw {
 public:
  WeightedDraw() = default;
  explicit WeightedDraw(const std::vector<Candidate>& candidates);
  bool empty() const { return sampler_.empty(); }
  /// An index into `candidates` (the same list the draw was built from); requires !empty().
  std::uint32_t draw(const std::vector<Candidate>& candidates, Rng& rng,
                     const Backend* avoid) const;

 private:
  WeightedSampler sampler_;
};

class RandomBalancer final : public Balancer {
 public:
  RandomBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed);
  const Backend* pick(const PickContext& ctx) override;

 private:
  PoolSnapshotPtr snapshot_;
  std::vector<Candidate> candidates_;
  WeightedDraw draw_;
  Rng rng_;
};

}  // namespace lbd
