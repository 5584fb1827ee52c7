#include "lbd/balance/agent.hpp"

#include "lbd/balance/agent_report.hpp"
#include "lbd/balance/candidates.hpp"

namespace lbd {

AgentBalancer::AgentBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)), candidates_(usable_candidates(*snapshot_)), seed_(seed) {
  rebuild(agent_epoch());
}

void AgentBalancer::rebuild(std::uint64_t epoch) {
  // The epoch is read before the statuses: a report landing in between bumps it again, and the
  // next pick rebuilds once more.
  epoch_ = epoch;
  std::vector<std::uint64_t> weights;
  weights.reserve(candidates_.size());
  for (const auto& c : candidates_)
    weights.push_back(agent_weight(c.weight, agent_status(*c.backend)));
  // A new cycle starts from its beginning (a drained server that comes back does not get the
  // turns it missed); the seed keeps workers from moving in lockstep.
  wrr_.assign(std::move(weights));
  if (!candidates_.empty()) wrr_.skip(seed_ % candidates_.size());
}

const Backend* AgentBalancer::pick(const PickContext& ctx) {
  if (const auto epoch = agent_epoch(); epoch != epoch_) rebuild(epoch);
  if (wrr_.empty()) return nullptr;
  return candidates_[wrr_.next(candidates_, ctx.avoid)].backend;
}

}  // namespace lbd
