// Least time: the candidate with the smallest peak-EWMA latency × (active + 1) ÷ weight
// (Finagle/linkerd's cost). The proxy feeds latencies with `record_latency`; the balancer only
// reads the atomics on Backend.
#pragma once

#include <chrono>
#include <vector>

#include "common/clock.hpp"
#include "lbd/balance/balancer.hpp"

namespace lbd {

/// Feeds one latency sample (e.g. connect + time to the response header) into `b`'s peak-EWMA:
/// a sample above the current value replaces it at once (peak), a lower one pulls it down with
/// weight 1 - exp(-elapsed / decay), elapsed being the time since the previous sample. `now` is a
/// monotonic time (lb::Clock). Thread-safe (lock-free; two racing samples may both land, in either
/// order — the value stays between them). Called by every worker, on any backend.
void record_latency(const Backend& b, std::chrono::nanoseconds sample, lb::SteadyTime now,
                    std::chrono::nanoseconds decay);

class LeastTimeBalancer final : public Balancer {
 public:
  /// `seed` picks where the tie-breaking rotation starts on this worker.
  LeastTimeBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed);
  /// O(n). A backend without a sample yet is costed at the mean latency of those that have one
  /// (refreshed at construction and every 64 picks: so a new server is neither flooded nor
  /// starved); with no samples at all this is weighted least connections.
  const Backend* pick(const PickContext& ctx) override;

 private:
  /// Index of the cheapest candidate other than `skip`, ties from start_ on.
  template <bool kAllSampled>
  std::size_t least(const Backend* skip) const;
  void update_unsampled_latency();

  PoolSnapshotPtr snapshot_;
  // The hot loop reads only these two arrays (struct-of-arrays, 8 bytes a candidate each) and
  // the two atomics of each backend.
  std::vector<const Backend*> backends_;
  std::vector<double> inverse_weight_;  // 1 / weight: multiply, don't divide, on every pick
  double unsampled_latency_ = 1.0;
  // Every candidate had a sample at the last refresh. A sample is never taken back (the EWMA
  // stays ≥ 1), so this stays true until the next snapshot and the loop can drop the
  // "no sample yet" select.
  bool all_sampled_ = false;
  std::uint64_t picks_ = 0;
  std::size_t start_ = 0;
};

}  // namespace lbd
