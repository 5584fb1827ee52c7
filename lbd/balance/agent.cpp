#include "lbd/balance/agent.hpp"

#include "lbd/balance/agent_report.hpp"
#include "lbd/balance/candidates.hpp"

namespace lbd {

AgentBalancer::AgentBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)),
      candidates_(usable_candidates(*snapshot_)),
      current_(candidates_.size(), 0) {
  if (!candidates_.empty()) {
    const auto skip = seed % candidates_.size();
    for (std::uint64_t i = 0; i < skip; ++i) pick(PickContext{});
  }
}

const Backend* AgentBalancer::pick(const PickContext& ctx) {
  const auto n = candidates_.size();
  std::int64_t total = 0;
  std::size_t best = n;
  std::size_t best_any = n;  // winner if `avoid` is the only choice
  for (std::size_t i = 0; i < n; ++i) {
    // Weights are re-read on every pick, so a report takes effect on the next request. Smooth
    // WRR stays fair with weights that change between picks (nginx adjusts them the same way).
    const auto weight = static_cast<std::int64_t>(
        agent_weight(candidates_[i].weight, agent_status(*candidates_[i].backend)));
    if (weight == 0) {
      current_[i] = 0;  // drained/down: forget accumulated credit, it would burst on return
      continue;
    }
    total += weight;
    current_[i] += weight;
    if (best_any == n || current_[i] > current_[best_any]) best_any = i;
    if (candidates_[i].backend == ctx.avoid) continue;
    if (best == n || current_[i] > current_[best]) best = i;
  }
  if (best == n) best = best_any;
  if (best == n) return nullptr;
  current_[best] -= total;
  return candidates_[best].backend;
}

}  // namespace lbd
