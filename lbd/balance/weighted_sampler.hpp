// O(1) weighted sampling (Vose's alias method, in integers), used by random and p2c.
#pragma once

#include <cstdint>
#include <vector>

#include "lbd/balance/uint128.hpp"

namespace lbd {

/// Draws an index with probability weight[i] / Σ weight from one 64-bit uniform value.
/// Built once per snapshot; `draw` is const and allocation-free.
class WeightedSampler {
 public:
  WeightedSampler() = default;
  /// `weights` may contain zeros (never drawn); an all-zero or empty list leaves the sampler
  /// empty.
  explicit WeightedSampler(const std::vector<std::uint32_t>& weights);

  bool empty() const { return threshold_.empty(); }
  std::size_t size() const { return threshold_.size(); }

  /// An index in [0, size()) for a uniform `random`; requires !empty().
  std::uint32_t draw(std::uint64_t random) const {
    // High bits choose the column, the low 64 bits of the same product are a fresh uniform value
    // that decides between the column and its alias.
    const auto product = static_cast<u128>(random) * threshold_.size();
    const auto column = static_cast<std::uint32_t>(product >> 64);
    const auto coin = static_cast<std::uint64_t>(product);
    return coin < threshold_[column] ? column : alias_[column];
  }

 private:
  std::vector<std::uint64_t> threshold_;  // P(keep column) scaled to 2^64 (saturated)
  std::vector<std::uint32_t> alias_;
};

}  // namespace lbd
