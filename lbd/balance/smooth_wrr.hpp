// Smooth weighted round robin (nginx): weights 3:2 yield a,b,a,b,a. The sequence is periodic
// with period Σ weight (after one cycle every running weight is back to 0), so when that cycle is
// affordable it is computed once and a pick is an array read; otherwise each pick runs the O(n)
// update. Shared by round_robin and agent.
#pragma once

#include <cstdint>
#include <vector>

#include "lbd/balance/pool_snapshot.hpp"

namespace lbd {

class SmoothWrr {
 public:
  /// Precompute the cycle when Σ weight × n ≤ `max_schedule_work` (the cost of building it; the
  /// default keeps a rebuild around a millisecond and the table ≤ 256 KiB).
  static constexpr std::uint64_t kDefaultScheduleWork = std::uint64_t{1} << 22;

  explicit SmoothWrr(std::uint64_t max_schedule_work = kDefaultScheduleWork)
      : max_schedule_work_(max_schedule_work) {}

  /// Starts a new cycle over `weights` (index-aligned with the candidates; 0 = never picked).
  void assign(std::vector<std::uint64_t> weights);
  /// True when no weight is positive.
  bool empty() const { return total_ == 0; }
  /// Whether picks come from a precomputed cycle (for tests).
  bool scheduled() const { return !schedule_.empty(); }
  /// Advances by `picks` picks (workers start at different points of the same cycle).
  void skip(std::uint64_t picks);
  /// The next index in the cycle whose backend is not `avoid`; `avoid`'s own index only when it
  /// is the only one with a positive weight. Requires !empty().
  std::uint32_t next(const std::vector<Candidate>& candidates, const Backend* avoid);

 private:
  std::uint32_t step(const std::vector<Candidate>& candidates, const Backend* avoid);

  std::uint64_t max_schedule_work_;
  std::vector<std::uint64_t> weights_;  // divided by their gcd: a shorter, identical cycle
  std::uint64_t total_ = 0;
  std::vector<std::uint32_t> schedule_;  // one full cycle, when affordable
  std::size_t position_ = 0;
  std::vector<std::int64_t> current_;  // running weights, when there is no schedule
};

}  // namespace lbd
