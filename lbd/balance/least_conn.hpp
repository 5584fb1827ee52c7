// Weighted least connections: the candidate with the smallest active ÷ weight, over the active
// counts all workers share. Ties go round robin so an idle pool is not piled onto one server.
#pragma once

#include <vector>

#include "lbd/balance/balancer.hpp"

namespace lbd {

class LeastConnBalancer final : public Balancer {
 public:
  /// `seed` picks where the tie-breaking rotation starts on this worker.
  LeastConnBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed);
  /// O(n) scan of relaxed atomic loads.
  const Backend* pick(const PickContext& ctx) override;

 private:
  /// Index of the least loaded candidate other than `skip`, ties from start_ on.
  std::size_t least(const Backend* skip) const;

  PoolSnapshotPtr snapshot_;
  std::vector<Candidate> candidates_;
  std::vector<std::uint64_t> scale_;  // lcm(weights) / weight; empty when the lcm is too large
  std::size_t start_ = 0;
};

}  // namespace lbd
