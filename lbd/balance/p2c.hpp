// Power of two choices ("least request"): draw two candidates at random, weighted, and take the
// one with fewer active connections per unit of weight. Near least_conn quality at O(1) cost,
// and no herd onto one server when many workers decide at once on stale counts.
#pragma once

#include <vector>

#include "lbd/balance/balancer.hpp"
#include "lbd/balance/random.hpp"

namespace lbd {

class P2cBalancer final : public Balancer {
 public:
  P2cBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed);
  const Backend* pick(const PickContext& ctx) override;

 private:
  PoolSnapshotPtr snapshot_;
  std::vector<Candidate> candidates_;
  WeightedDraw draw_;
  Rng rng_;
};

}  // namespace lbd
