// The control thread's view of every pool: builds PoolSnapshots from the config (keeping the same
// Backend objects across reloads so their live counters survive) and publishes snapshots to the
// workers. The health-check code calls publish() with a new healthy subset.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lbd/balance/pool_snapshot.hpp"
#include "lbd/config.hpp"

namespace lbd {

/// Control-thread only (not thread-safe). Workers receive snapshots through the sink.
class UpstreamRegistry {
 public:
  /// Called for every published snapshot; the server posts it to each worker.
  using Sink = std::function<void(const PoolSnapshotPtr&)>;

  void set_sink(Sink sink) { sink_ = std::move(sink); }

  /// Builds one snapshot per pool of `config` (every server a candidate with its configured
  /// weight, backups and weight-0 servers left out), reusing a Backend whose name, address,
  /// weight, max_connections and backup flag did not change. Does not publish: the server sends
  /// these to workers together with the config. Replaces the current set.
  std::vector<PoolSnapshotPtr> rebuild(const Config& config);

  /// Makes `snapshot` the current one of its pool (a new generation is stamped on it) and sends
  /// it to every worker. Ignored (returns false) when the pool is not configured.
  bool publish(PoolSnapshot snapshot);

  /// The current snapshot of `pool`, or nullptr.
  PoolSnapshotPtr current(const std::string& pool) const;

 private:
  std::map<std::string, PoolSnapshotPtr> pools_;
  std::uint64_t generation_ = 0;
  Sink sink_;
};

}  // namespace lbd
