// Smooth weighted round robin (the nginx algorithm): weights 3:2 yield a,b,a,b,a rather than
// a,a,a,b,b, and every backend gets exactly its share over one cycle.
#pragma once

#include <vector>

#include "lbd/balance/balancer.hpp"
#include "lbd/balance/smooth_wrr.hpp"

namespace lbd {

class RoundRobinBalancer final : public Balancer {
 public:
  /// `seed` rotates the starting point so that workers begin on different backends.
  RoundRobinBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed);
  /// O(1) from the precomputed cycle (O(n) for pools whose cycle is too long to precompute).
  const Backend* pick(const PickContext& ctx) override;

 private:
  PoolSnapshotPtr snapshot_;
  std::vector<Candidate> candidates_;  // weight > 0 only
  SmoothWrr wrr_;
};

}  // namespace lbd
