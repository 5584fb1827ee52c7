// Agent-weighted balancing (HAProxy agent-check style): each server's weight is its configured
// weight × the percentage its agent last reported, and 0 while it reports drain or down. The
// AgentPoller (lbd/upstream/agent_poller.hpp) writes the reports into Backend::agent_status;
// this balancer spreads picks over those weights by smooth weighted round robin.
#pragma once

#include <vector>

#include "lbd/balance/balancer.hpp"
#include "lbd/balance/smooth_wrr.hpp"

namespace lbd {

class AgentBalancer final : public Balancer {
 public:
  /// `seed` rotates the starting point so that workers begin on different backends.
  AgentBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed);
  /// O(1) while no agent status changes (one atomic load of agent_epoch()); after a change the
  /// weights are re-read and the cycle rebuilt, so a report takes effect on the next pick.
  /// nullptr when every candidate is drained, down or at 0 %.
  const Backend* pick(const PickContext& ctx) override;

 private:
  void rebuild(std::uint64_t epoch);

  PoolSnapshotPtr snapshot_;
  std::vector<Candidate> candidates_;
  std::uint64_t seed_;
  std::uint64_t epoch_ = 0;
  SmoothWrr wrr_;
};

}  // namespace lbd
