// Builds the immutable PoolSnapshot from the health subsystem's per-server view: who is up,
// ejected, drained, in maintenance, and at what effective weight; backups only when no primary
// can take new picks. Pure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lbd/balance/pool_snapshot.hpp"

namespace lbd {

/// One server as the health subsystem sees it at snapshot time.
struct ServerView {
  std::shared_ptr<const Backend> backend;
  BackendState state;  // `weight` = effective weight (configured or admin-set, after slow start)
};

/// Candidates: servers that are healthy, not ejected, `ready` and weight > 0; primaries when at
/// least one primary qualifies, otherwise the backups that qualify (`using_backups`), otherwise
/// none. Every server stays in `backends`/`states` so that sticky clients and open connections
/// can still reach draining ones. States of non-candidates carry their weight as given.
PoolSnapshotPtr build_pool_snapshot(std::string pool_name, std::uint64_t generation,
                                    const std::vector<ServerView>& servers);

/// True when two snapshots route identically (same candidates with weights, same states),
/// whatever their generation: the health manager publishes only when this is false.
bool same_routing(const PoolSnapshot& a, const PoolSnapshot& b);

}  // namespace lbd
