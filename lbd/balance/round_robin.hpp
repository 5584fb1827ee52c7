// Smooth weighted round robin (the nginx algorithm): weights 3:2 yield a,b,a,b,a rather than
// a,a,a,b,b, and every backend gets exactly its share over one cycle.
#pragma once

#include <vector>

#include "lbd/balance/balancer.hpp"

namespace lbd {

class RoundRobinBalancer final : public Balancer {
 public:
  /// `seed` rotates the starting point so that workers begin on different backends.
  RoundRobinBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed);
  const Backend* pick(const PickContext& ctx) override;

 private:
  PoolSnapshotPtr snapshot_;
  std::vector<Candidate> candidates_;  // weight > 0 only
  std::vector<std::int64_t> current_;  // per candidate: the running "current weight"
  std::int64_t total_weight_ = 0;
};

}  // namespace lbd
