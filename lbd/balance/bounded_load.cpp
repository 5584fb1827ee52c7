#include "lbd/balance/bounded_load.hpp"

#include <cmath>

namespace lbd {

BoundedLoad::BoundedLoad(double factor, const std::vector<Candidate>& candidates)
    : permille_(factor > 0 ? static_cast<std::uint64_t>(std::llround(factor * 1000.0)) : 0) {
  backends_.reserve(candidates.size());
  for (const auto& c : candidates) {
    total_weight_ += c.weight;
    backends_.push_back(c.backend);
  }
}

std::uint64_t BoundedLoad::load_after_pick() const {
  // Four independent sums: the loads overlap instead of waiting on one chain of additions.
  const Backend* const* b = backends_.data();
  const std::size_t n = backends_.size();
  std::uint64_t s0 = 1, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += b[i]->active.load(std::memory_order_relaxed);
    s1 += b[i + 1]->active.load(std::memory_order_relaxed);
    s2 += b[i + 2]->active.load(std::memory_order_relaxed);
    s3 += b[i + 3]->active.load(std::memory_order_relaxed);
  }
  for (; i < n; ++i) s0 += b[i]->active.load(std::memory_order_relaxed);
  return s0 + s1 + s2 + s3;
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
