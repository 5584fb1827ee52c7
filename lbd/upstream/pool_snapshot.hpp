// An immutable view of one pool: every backend, and the subset that may take new picks with its
// effective weight. Built on the control thread, shared read-only with the workers, which rebuild
// their balancers when a snapshot with a new generation arrives.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lbd/upstream/backend.hpp"

namespace lbd {

/// A backend that may receive new picks, with its effective weight (after slow start, agent
/// reports, drain: weight 0 means "no new picks" and such backends are left out).
struct Candidate {
  const Backend* backend = nullptr;
  std::uint32_t weight = 1;
};

struct PoolSnapshot {
  std::string pool_name;
  std::uint64_t generation = 0;
  /// Every backend of the pool in config order (healthy or not).
  std::vector<std::shared_ptr<const Backend>> backends;
  /// The backends that may take new picks now, in config order, weight > 0.
  std::vector<Candidate> candidates;

  /// Finds a backend by name among all backends (nullptr when absent).
  const Backend* find(std::string_view name) const {
    for (const auto& b : backends) {
      if (b->name == name) return b.get();
    }
    return nullptr;
  }
};

using PoolSnapshotPtr = std::shared_ptr<const PoolSnapshot>;

}  // namespace lbd
