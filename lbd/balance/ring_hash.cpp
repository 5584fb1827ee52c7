#include "lbd/balance/ring_hash.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#include "lbd/balance/candidates.hpp"
#include "lbd/balance/stable_hash.hpp"

namespace lbd {

HashRing::HashRing(const std::vector<Candidate>& candidates, std::uint32_t virtual_nodes) {
  std::uint64_t total_weight = 0;
  for (const auto& c : candidates) total_weight += c.weight;
  if (candidates.empty() || total_weight == 0) return;
  // Memory is 12 bytes a point per worker: beyond kMaxPoints the points are scaled down (only
  // for pools far larger than the default 160 points × 1,000 servers would need).
  const double wanted = static_cast<double>(virtual_nodes) * static_cast<double>(candidates.size());
  const double points_total = std::min(wanted, static_cast<double>(kMaxPoints));
  const double per_weight = points_total / static_cast<double>(total_weight);

  std::vector<std::pair<std::uint64_t, std::uint32_t>> points;
  for (std::uint32_t i = 0; i < candidates.size(); ++i) {
    const auto count = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::llround(per_weight * candidates[i].weight)));
    // Point j of a server: its name hashed with seed j (no string building per point).
    for (std::uint64_t j = 0; j < count; ++j) {
      points.emplace_back(stable_hash(candidates[i].backend->name, j), i);
    }
  }
  // Ties between servers (64-bit collisions) go to the smaller name: candidates are by name.
  std::sort(points.begin(), points.end());
  hashes_.reserve(points.size());
  owners_.reserve(points.size());
  for (const auto& [h, i] : points) {
    hashes_.push_back(h);
    owners_.push_back(i);
  }
  build_index();
}

void HashRing::build_index() {
  // 2^bits buckets with 2^bits ≤ points / 4 (at least 1 bucket); kMaxPoints keeps positions
  // within 32 bits.
  const std::size_t wanted = std::max<std::size_t>(1, hashes_.size() / 4);
  const unsigned bits = static_cast<unsigned>(std::bit_width(wanted) - 1);
  bucket_shift_ = 64 - bits;
  const std::size_t buckets = std::size_t{1} << bits;
  bucket_start_.resize(buckets + 1);
  std::size_t pos = 0;
  for (std::size_t k = 0; k < buckets; ++k) {
    // Points are sorted, so one pass fills every bucket's first position.
    while (pos < hashes_.size() && (bits == 0 ? 0 : hashes_[pos] >> bucket_shift_) < k) ++pos;
    bucket_start_[k] = static_cast<std::uint32_t>(pos);
  }
  bucket_start_[buckets] = static_cast<std::uint32_t>(hashes_.size());
}

std::size_t HashRing::find(std::uint64_t hash) const {
  // Every point before the bucket's start is < hash and every point from the next bucket's
  // start on is > hash, so the binary search over the bucket alone gives the same position as
  // one over the whole ring.
  const std::size_t k = bucket_shift_ == 64 ? 0 : hash >> bucket_shift_;
  const auto first = hashes_.begin() + bucket_start_[k];
  const auto last = hashes_.begin() + bucket_start_[k + 1];
  const auto it = std::lower_bound(first, last, hash);
  return it == hashes_.end() ? 0 : static_cast<std::size_t>(it - hashes_.begin());
}

RingHashBalancer::RingHashBalancer(PoolSnapshotPtr snapshot, const BalanceOptions& options,
                                   std::uint64_t seed)
    : snapshot_(std::move(snapshot)),
      candidates_(candidates_by_name(*snapshot_)),
      ring_(candidates_, options.ring_virtual_nodes),
      bounded_(options.hash_balance_factor, candidates_),
      rng_(seed) {}

const Backend* RingHashBalancer::pick(const PickContext& ctx) {
  if (candidates_.empty()) return nullptr;
  const auto start = ring_.find(ctx.hash ? *ctx.hash : rng_.next());
  return bounded_.walk(
      candidates_, start, ring_.size(), [this](std::size_t pos) { return ring_.owner(pos); },
      ctx.avoid);
}

}  // namespace lbd
