// Vose's alias table in integer arithmetic, so equal inputs give equal tables everywhere.
#include "lbd/balance/weighted_sampler.hpp"

#include <limits>

namespace lbd {

WeightedSampler::WeightedSampler(const std::vector<std::uint32_t>& weights) {
  const auto n = weights.size();
  std::uint64_t total = 0;
  for (auto w : weights) total += w;
  if (n == 0 || total == 0) return;

  // Column i holds probability mass scaled[i] / total out of 1 (the column's share is 1/n, so the
  // mass of item i is w_i * n / total columns).
  std::vector<std::uint64_t> scaled(n);
  std::vector<std::uint32_t> small, large;
  for (std::size_t i = 0; i < n; ++i) {
    scaled[i] = static_cast<std::uint64_t>(weights[i]) * n;
    (scaled[i] < total ? small : large).push_back(static_cast<std::uint32_t>(i));
  }
  threshold_.assign(n, std::numeric_limits<std::uint64_t>::max());
  alias_.resize(n);
  for (std::size_t i = 0; i < n; ++i) alias_[i] = static_cast<std::uint32_t>(i);

  while (!small.empty() && !large.empty()) {
    const auto s = small.back();
    small.pop_back();
    const auto l = large.back();
    threshold_[s] = static_cast<std::uint64_t>((static_cast<u128>(scaled[s]) << 64) / total);
    alias_[s] = l;
    scaled[l] = scaled[l] + scaled[s] - total;
    if (scaled[l] < total) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // What is left is exactly full (integer arithmetic: no rounding residue); keep every draw.
}

}  // namespace lbd
