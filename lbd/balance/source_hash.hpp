// Source hash, the textbook "IP hash": the key's hash modulo the pool's total weight selects a
// server. Cheap and stateless, but when the set of servers changes (one added, one fails) almost
// every key moves to another server — use ring_hash or maglev when that matters. Servers are
// ordered by name, so two nodes with the same servers map keys alike.
#pragma once

#include <vector>

#include "lbd/balance/balancer.hpp"
#include "lbd/balance/rng.hpp"

namespace lbd {

class SourceHashBalancer final : public Balancer {
 public:
  /// `seed` drives the weighted random choice for requests without a key hash.
  SourceHashBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed);
  /// O(log n). With `avoid` hit, the hash is re-mixed a few times, then the next server is taken.
  const Backend* pick(const PickContext& ctx) override;

 private:
  std::uint32_t index_of(std::uint64_t hash) const;

  PoolSnapshotPtr snapshot_;
  std::vector<Candidate> candidates_;      // by name
  std::vector<std::uint64_t> cumulative_;  // running total of weights
  Rng rng_;
};

}  // namespace lbd
