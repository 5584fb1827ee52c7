// Keeps the kernel's forwarding table in step with lbd: a full transaction when a config is
// applied (replacing whatever an earlier, possibly killed, run left), one map rewrite per pool
// snapshot that changes the slot table, and the table deleted on a clean stop. Control thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/nft/runner.hpp"
#include "lbd/balance/pool_snapshot.hpp"
#include "lbd/config.hpp"
#include "lbd/forward/ruleset.hpp"

namespace lbd::forward {

/// Counters for /metrics (read from any thread).
struct ForwardCounters {
  std::atomic<std::uint64_t> transactions_ok{0};
  std::atomic<std::uint64_t> transactions_failed{0};
  std::atomic<std::uint64_t> map_updates{0};
};

/// A backend that went down under a listener with on_server_down = "reset": the conntrack
/// entries of its flows through `vips` are to be deleted.
struct BackendReset {
  std::string listener;
  std::string server;
  lb::Endpoint backend;
  std::vector<lb::Endpoint> vips;
};

/// The backends of `snapshot` that cannot serve their established clients (down, ejected,
/// maintenance; drained ones still can), by address. Pure.
std::set<lb::Endpoint> down_backends(const PoolSnapshot& snapshot);

class ForwardManager {
 public:
  explicit ForwardManager(std::unique_ptr<lb::nft::NftRunner> nft) : nft_(std::move(nft)) {}

  /// Programs the forward listeners of `config` over `pools` (the latest snapshot of each pool)
  /// in one transaction. A config without forward listeners deletes the table (once). On failure
  /// the kernel keeps its previous table and the error says why (nft's message).
  lb::Result<void> apply(const std::shared_ptr<const Config>& config,
                         const std::vector<PoolSnapshotPtr>& pools);
  /// A new snapshot of a pool: every forward service of that pool whose slot table changed gets
  /// its map rewritten (one transaction each). Failures are counted and returned.
  lb::Result<void> on_snapshot(const PoolSnapshotPtr& snapshot);
  /// The resets the snapshots since the last call asked for (backends that went down under a
  /// listener with on_server_down = "reset"); the caller deletes their conntrack entries.
  std::vector<BackendReset> take_resets() { return std::exchange(resets_, {}); }
  /// Deletes the table if this manager programmed one (clean stop: no rules outlive lbd).
  lb::Result<void> stop();
  /// What the kernel holds now ("list table ip lbpair"), or the error.
  lb::Result<std::string> list();
  /// The services as last programmed (config order).
  const std::vector<Service>& services() const { return services_; }
  const ForwardCounters& counters() const { return counters_; }

 private:
  lb::Result<void> run(const std::string& commands);

  std::unique_ptr<lb::nft::NftRunner> nft_;
  std::shared_ptr<const Config> config_;
  std::vector<Service> services_;
  bool installed_ = false;
  ForwardCounters counters_;
  std::map<std::string, std::set<lb::Endpoint>> down_;  // by pool, as of its last snapshot
  std::vector<BackendReset> resets_;
};

}  // namespace lbd::forward
