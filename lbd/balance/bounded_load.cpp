#include "lbd/balance/bounded_load.hpp"

#include <cmath>

namespace lbd {

BoundedLoad::BoundedLoad(double factor, const std::vector<Candidate>& candidates)
    : permille_(factor > 0 ? static_cast<std::uint64_t>(std::llround(factor * 1000.0)) : 0) {
  for (const auto& c : candidates) total_weight_ += c.weight;
}

std::uint64_t BoundedLoad::load_after_pick(const std::vector<Candidate>& candidates) {
  std::uint64_t total = 1;
  for (const auto& c : candidates) total += c.backend->active.load(std::memory_order_relaxed);
  return total;
}

const Backend* BoundedLoad::least_loaded(const std::vector<Candidate>& candidates,
                                         const Backend* avoid) {
  const Candidate* best = nullptr;
  std::uint64_t best_active = 0;
  for (const auto& c : candidates) {
    if (c.backend == avoid && candidates.size() > 1) continue;
    const std::uint64_t active = c.backend->active.load(std::memory_order_relaxed);
    if (best == nullptr || active * best->weight < best_active * c.weight) {
      best = &c;
      best_active = active;
    }
  }
  return best->backend;
}

}  // namespace lbd
