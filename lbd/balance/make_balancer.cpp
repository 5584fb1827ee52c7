// The one switch from a pool's configured algorithm to its implementation.
#include "lbd/balance/agent.hpp"
#include "lbd/balance/balancer.hpp"
#include "lbd/balance/least_conn.hpp"
#include "lbd/balance/least_time.hpp"
#include "lbd/balance/maglev.hpp"
#include "lbd/balance/p2c.hpp"
#include "lbd/balance/random.hpp"
#include "lbd/balance/ring_hash.hpp"
#include "lbd/balance/round_robin.hpp"
#include "lbd/balance/source_hash.hpp"

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
    case Algorithm::least_conn:
      return std::make_unique<LeastConnBalancer>(std::move(snapshot), seed);
    case Algorithm::p2c:
      return std::make_unique<P2cBalancer>(std::move(snapshot), seed);
    case Algorithm::random:
      return std::make_unique<RandomBalancer>(std::move(snapshot), seed);
    case Algorithm::least_time:
      return std::make_unique<LeastTimeBalancer>(std::move(snapshot), seed);
    case Algorithm::source_hash:
      return std::make_unique<SourceHashBalancer>(std::move(snapshot), seed);
    case Algorithm::ring_hash:
      return std::make_unique<RingHashBalancer>(std::move(snapshot), options, seed);
    case Algorithm::maglev:
      return std::make_unique<MaglevBalancer>(std::move(snapshot), options, seed);
    case Algorithm::agent:
      return std::make_unique<AgentBalancer>(std::move(snapshot), seed);
  }
  return nullptr;
}

}  // namespace lbd
