// An immutable view of one pool: every backend, and the subset that may take new picks with its
// effective weight. Built on the control thread, shared read-only with the workers, which rebuild
// their balancers when a snapshot with a new generation arrives.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lbd/balance/admin_state.hpp"
#include "lbd/balance/backend.hpp"

namespace lbd {

/// A backend that may receive new picks, with its effective weight (after slow start, agent
/// reports, drain: weight 0 means "no new picks" and such backends are left out).
struct Candidate {
  const Backend* backend = nullptr;
  std::uint32_t weight = 1;
};

/// What the health subsystem knows about one backend when the snapshot was built.
struct BackendState {
  bool healthy = true;   // active checks say up (or no active check)
  bool ejected = false;  // passive outlier detection has ejected it for a while
  AdminState admin = AdminState::ready;
  std::uint32_t weight = 0;  // effective weight (0 when not a candidate)

  /// May this backend serve a client that is already bound to it (a sticky client, a retried
  /// keep-alive)? Yes when it is healthy, not ejected and not in maintenance; draining backends
  /// and weight-0 backends still serve their existing clients.
  bool serves_existing() const { return healthy && !ejected && admin != AdminState::maint; }
};

struct PoolSnapshot {
  std::string pool_name;
  std::uint64_t generation = 0;
  /// Every backend of the pool in config order (healthy or not).
  std::vector<std::shared_ptr<const Backend>> backends;
  /// The backends that may take new picks now, in config order, weight > 0.
  std::vector<Candidate> candidates;
  /// Index-aligned with `backends` (empty when a snapshot was built without health state, e.g.
  /// in balancer tests: then every backend counts as healthy and ready).
  std::vector<BackendState> states;
  /// True when `candidates` are backup servers because no primary can take new picks.
  bool using_backups = false;

  /// The health/admin state of `b` (nullptr when `b` is not in this snapshot or states is empty).
  const BackendState* state_of(const Backend* b) const {
    for (std::size_t i = 0; i < backends.size() && i < states.size(); ++i) {
      if (backends[i].get() == b) return &states[i];
    }
    return nullptr;
  }
  /// For session persistence: may a sticky client bound to `b` keep going there? True for
  /// candidates and for draining backends; false for down, ejected, maintenance or unknown ones.
  bool accepts_sticky(const Backend* b) const {
    if (states.empty()) return find_candidate(b);
    const auto* s = state_of(b);
    return s != nullptr && s->serves_existing();
  }
  bool find_candidate(const Backend* b) const {
    for (const auto& c : candidates) {
      if (c.backend == b) return true;
    }
    return false;
  }

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
