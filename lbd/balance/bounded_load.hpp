// Bounded loads for consistent hashing ("Consistent Hashing with Bounded Loads", Mirrokni,
// Thorup, Zadimoghaddam, 2018): a backend admits a new pick only while its active connections
// stay within ceil(factor × (total active + 1) × its weight share); otherwise the key moves on
// along the ring / table. Used by ring_hash and maglev.
#pragma once

#include <cstdint>
#include <vector>

#include "lbd/balance/pool_snapshot.hpp"
#include "lbd/balance/uint128.hpp"

namespace lbd {

class BoundedLoad {
 public:
  /// `factor` 0 = off, else ≥ 1.0; it is used in steps of 0.001 so that the bound is computed in
  /// exact integers (the same on every node). The same `candidates` go to every call below.
  BoundedLoad(double factor, const std::vector<Candidate>& candidates);

  bool enabled() const { return permille_ != 0; }

  /// Total active connections over the candidates, plus one for the pick being made. Call once
  /// per pick (O(n) relaxed loads) and pass the result to `admits`.
  std::uint64_t load_after_pick() const;

  /// Whether `c` may take one more connection when the pool's load becomes `load_after_pick`.
  bool admits(const Candidate& c, std::uint64_t load_after_pick) const {
    // active < ceil(num / den)  ⟺  active < num / den  ⟺  active × den < num (active is an
    // integer), which spares a 128-bit division per step.
    const u128 num = static_cast<u128>(permille_) * load_after_pick * c.weight;
    const u128 den = static_cast<u128>(1000) * total_weight_;
    return c.backend->active.load(std::memory_order_relaxed) * den < num;
  }

  /// The consistent-hash walk shared by ring_hash and maglev: from position `start` of a circular
  /// sequence of `count` owners (`owner_at(pos)` = candidate index), the first owner that is not
  /// `avoid` and, when enabled, admits one more connection. Falls back to `least_loaded` after a
  /// full turn. Requires a non-empty candidate list.
  template <typename OwnerAt>
  const Backend* walk(const std::vector<Candidate>& candidates, std::size_t start,
                      std::size_t count, OwnerAt owner_at, const Backend* avoid) const {
    if (candidates.size() == 1) return candidates[0].backend;
    const std::uint64_t load = enabled() ? load_after_pick() : 0;
    std::size_t pos = start;
    for (std::size_t step = 0; step < count; ++step) {
      const auto& c = candidates[owner_at(pos)];
      if (c.backend != avoid && (!enabled() || admits(c, load))) return c.backend;
      pos = pos + 1 == count ? 0 : pos + 1;
    }
    return least_loaded(candidates, avoid);
  }

  /// The least loaded (active ÷ weight) candidate other than `avoid` (or `avoid` when it is the
  /// only one): the last resort when no candidate admits. Requires a non-empty list.
  static const Backend* least_loaded(const std::vector<Candidate>& candidates,
                                     const Backend* avoid);

 private:
  std::uint64_t permille_ = 0;
  std::uint64_t total_weight_ = 0;
  // The candidates' backends, contiguous: the per-pick sum reads 8 bytes a candidate here
  // instead of striding over the 16-byte Candidates.
  std::vector<const Backend*> backends_;
};

}  // namespace lbd
