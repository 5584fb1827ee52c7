// Maglev consistent hashing (Eisenbud et al., NSDI 2016): a lookup table of prime size M where
// every server fills slots along its own permutation (offset and skip from its NAME), taking
// turns in proportion to weight. A key's slot is O(1); one of N servers leaving or joining moves
// about 1/N of the keys; two nodes build identical tables whatever the config order.
#pragma once

#include <vector>

#include "lbd/balance/balancer.hpp"
#include "lbd/balance/bounded_load.hpp"
#include "lbd/balance/rng.hpp"

namespace lbd {

class MaglevTable {
 public:
  /// `candidates` sorted by name (the fill order decides contested slots, so it must not depend
  /// on config order); `size` prime (config validates it, ≥ 100 × servers for even shares).
  MaglevTable(const std::vector<Candidate>& candidates, std::uint32_t size);

  std::uint32_t size() const { return static_cast<std::uint32_t>(entries_.size()); }
  /// The slot of a key hash (multiply-shift, no division). Requires size() > 0.
  std::uint32_t slot(std::uint64_t hash) const { return Rng::scale(hash, size()); }
  /// The candidate index owning `slot`.
  std::uint32_t owner(std::size_t slot) const { return entries_[slot]; }

 private:
  std::vector<std::uint32_t> entries_;
};

class MaglevBalancer final : public Balancer {
 public:
  /// `seed` drives the choice for requests without a key hash (a random slot).
  MaglevBalancer(PoolSnapshotPtr snapshot, const BalanceOptions& options, std::uint64_t seed);
  /// O(1); O(n) more with bounded loads. `avoid` and full servers move on to the next slots.
  const Backend* pick(const PickContext& ctx) override;

 private:
  PoolSnapshotPtr snapshot_;
  std::vector<Candidate> candidates_;  // by name
  MaglevTable table_;
  BoundedLoad bounded_;
  Rng rng_;
};

}  // namespace lbd
