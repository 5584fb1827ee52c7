// Helpers shared by the balancers: the usable candidates of a snapshot, and the `avoid` rule.
#pragma once

#include <algorithm>
#include <vector>

#include "lbd/balance/pool_snapshot.hpp"

namespace lbd {

/// The snapshot's candidates with weight > 0 (the snapshot promises that already; balancers do
/// not rely on it), in snapshot order.
inline std::vector<Candidate> usable_candidates(const PoolSnapshot& snapshot) {
  std::vector<Candidate> out;
  out.reserve(snapshot.candidates.size());
  for (const auto& c : snapshot.candidates) {
    if (c.backend != nullptr && c.weight > 0) out.push_back(c);
  }
  return out;
}

/// The same, sorted by backend name: hashing balancers place backends by name so that two nodes
/// with the servers listed in a different order map keys identically.
inline std::vector<Candidate> candidates_by_name(const PoolSnapshot& snapshot) {
  auto out = usable_candidates(snapshot);
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.backend->name < b.backend->name;
  });
  return out;
}

}  // namespace lbd
