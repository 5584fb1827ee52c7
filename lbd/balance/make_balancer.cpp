// The one switch from a pool's configured algorithm to its implementation.
#include "lbd/balance/balancer.hpp"
#include "lbd/balance/round_robin.hpp"

namespace lbd {

const char* algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::round_robin:
      return "round_robin";
    case Algorithm::least_conn:
      return "least_conn";
    case Algorithm::p2c:
      return "p2c";
    case Algorithm::random:
      return "random";
    case Algorithm::least_time:
      return "least_time";
    case Algorithm::source_hash:
      return "source_hash";
    case Algorithm::ring_hash:
      return "ring_hash";
    case Algorithm::maglev:
      return "maglev";
    case Algorithm::agent:
      return "agent";
  }
  return "?";
}

std::unique_ptr<Balancer> make_balancer(const BalanceOptions& options, PoolSnapshotPtr snapshot,
                                        std::uint64_t seed) {
  switch (options.algorithm) {
    case Algorithm::round_robin:
      return std::make_unique<RoundRobinBalancer>(std::move(snapshot), seed);
    default:
      // The other algorithms land with issue #4; until then the config loader refuses them.
      return nullptr;
  }
}

}  // namespace lbd
