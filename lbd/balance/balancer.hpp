// The balancing interface: a worker-local object that picks a backend from a pool snapshot.
// Implementations are pure (no I/O, no clock except what PickContext carries) and one per file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "lbd/balance/options.hpp"
#include "lbd/balance/pool_snapshot.hpp"

namespace lbd {

/// What the caller knows about the request being balanced.
struct PickContext {
  /// Hash of the configured key (client IP, header, cookie, path) for hashing algorithms.
  std::optional<std::uint64_t> hash;
  /// A backend to avoid (the one whose connect just failed), if another is available.
  const Backend* avoid = nullptr;
  /// A backend the client is bound to by session persistence (a candidate or a draining server of
  /// the current snapshot). The worker returns it without asking the balancer unless it is `avoid`;
  /// balancers ignore it.
  const Backend* prefer = nullptr;
};

/// Picks backends for one pool on one worker. Not thread-safe: each worker owns its balancers.
class Balancer {
 public:
  virtual ~Balancer() = default;
  /// A candidate of the snapshot, or nullptr when the snapshot has no candidate. Honours
  /// `ctx.avoid` whenever another candidate exists.
  virtual const Backend* pick(const PickContext& ctx) = 0;
};

/// The one switch from configuration to implementation. `seed` differs per worker so that workers
/// do not all start on the same backend.
std::unique_ptr<Balancer> make_balancer(const BalanceOptions& options, PoolSnapshotPtr snapshot,
                                        std::uint64_t seed);

}  // namespace lbd
