// Ketama-style consistent hashing: every server owns points on a 64-bit ring (virtual nodes, in
// proportion to its weight) and a key goes to the first point at or after its hash. Adding or
// removing one of N servers moves only about 1/N of the keys. Points hash the server's NAME, so
// every node builds the same ring whatever the config order. Optional bounded loads.
#pragma once

#include <vector>

#include "lbd/balance/balancer.hpp"
#include "lbd/balance/bounded_load.hpp"
#include "lbd/balance/rng.hpp"

namespace lbd {

/// The ring itself: sorted point hashes and, for each, the owning candidate's index.
class HashRing {
 public:
  /// `candidates` sorted by name; a server gets max(1, round(virtual_nodes × n × weight ÷ total
  /// weight)) points, so an average-weight server gets `virtual_nodes` and equal-weight servers
  /// keep their points when another server joins.
  HashRing(const std::vector<Candidate>& candidates, std::uint32_t virtual_nodes);

  /// Points of one ring at most (±½ per server from rounding; 48 MiB); larger requests are
  /// scaled down.
  static constexpr std::size_t kMaxPoints = std::size_t{1} << 22;

  std::size_t size() const { return hashes_.size(); }
  /// Position of the first point at or after `hash` (wrapping to 0). Requires size() > 0.
  /// O(1) expected: a bucket index narrows the binary search to about 4 points.
  std::size_t find(std::uint64_t hash) const;
  std::uint32_t owner(std::size_t position) const { return owners_[position]; }

 private:
  void build_index();

  std::vector<std::uint64_t> hashes_;
  std::vector<std::uint32_t> owners_;
  // bucket_start_[k] = position of the first point whose hash's top bits are ≥ k (k = hash >>
  // bucket_shift_), with one extra entry = size(). A binary search over the whole ring was ~14
  // dependent cache misses a pick (16,000 points at 100 servers); the buckets (a power of two,
  // about one per 4 points, 1 byte a point) leave one or two.
  std::vector<std::uint32_t> bucket_start_;
  unsigned bucket_shift_ = 64;
};

class RingHashBalancer final : public Balancer {
 public:
  /// `seed` drives the choice for requests without a key hash (a random point on the ring).
  RingHashBalancer(PoolSnapshotPtr snapshot, const BalanceOptions& options, std::uint64_t seed);
  /// O(log points); O(n) more with bounded loads.
  const Backend* pick(const PickContext& ctx) override;

 private:
  PoolSnapshotPtr snapshot_;
  std::vector<Candidate> candidates_;  // by name
  HashRing ring_;
  BoundedLoad bounded_;
  Rng rng_;
};

}  // namespace lbd
