#include "lbd/balance/source_hash.hpp"

#include <algorithm>

#include "lbd/balance/candidates.hpp"
#include "lbd/balance/stable_hash.hpp"

namespace lbd {

SourceHashBalancer::SourceHashBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)), candidates_(candidates_by_name(*snapshot_)), rng_(seed) {
  std::uint64_t total = 0;
  for (const auto& c : candidates_) {
    total += c.weight;
    cumulative_.push_back(total);
  }
}

std::uint32_t SourceHashBalancer::index_of(std::uint64_t hash) const {
  const auto point = hash % cumulative_.back();
  return static_cast<std::uint32_t>(
      std::upper_bound(cumulative_.begin(), cumulative_.end(), point) - cumulative_.begin());
}

const Backend* SourceHashBalancer::pick(const PickContext& ctx) {
  const auto n = candidates_.size();
  if (n == 0) return nullptr;
  auto hash = ctx.hash ? *ctx.hash : rng_.next();
  auto i = index_of(hash);
  if (candidates_[i].backend != ctx.avoid || n == 1) return candidates_[i].backend;
  for (int tries = 0; tries < 3; ++tries) {
    hash = mix64(hash + 1);
    i = index_of(hash);
    if (candidates_[i].backend != ctx.avoid) return candidates_[i].backend;
  }
  return candidates_[i + 1 == n ? 0 : i + 1].backend;
}

}  // namespace lbd
