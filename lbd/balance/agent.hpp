// Agent-weighted balancing (HAProxy agent-check style): each server's weight is its configured
// weight × the percentage its agent last reported, and 0 while it reports drain or down. The
// AgentPoller (lbd/upstream/agent_poller.hpp) writes the reports into Backend::agent_status;
// this balancer reads them on every pick and spreads picks by smooth weighted round robin.
#pragma once

#include <vector>

#include "lbd/balance/balancer.hpp"

namespace lbd {

class AgentBalancer final : public Balancer {
 public:
  /// `seed` rotates the starting point so that workers begin on different backends.
  AgentBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed);
  /// O(n): one relaxed load per candidate. nullptr when every candidate is drained or down.
  const Backend* pick(const PickContext& ctx) override;

 private:
  PoolSnapshotPtr snapshot_;
  std::vector<Candidate> candidates_;
  std::vector<std::int64_t> current_;  // smooth WRR running weights
};

}  // namespace lbd
