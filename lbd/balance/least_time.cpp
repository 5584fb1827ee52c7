#include "lbd/balance/least_time.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lbd/balance/candidates.hpp"

namespace lbd {

void record_latency(const Backend& b, std::chrono::nanoseconds sample, lb::SteadyTime now,
                    std::chrono::nanoseconds decay) {
  const std::uint64_t s = static_cast<std::uint64_t>(std::max<std::int64_t>(sample.count(), 1));
  const std::int64_t now_ns = now.time_since_epoch().count();
  const std::int64_t before = b.latency_stamp_ns.exchange(now_ns, std::memory_order_relaxed);
  const double elapsed = static_cast<double>(std::max<std::int64_t>(now_ns - before, 0));
  const double tau = static_cast<double>(std::max<std::int64_t>(decay.count(), 1));
  const double keep = std::exp(-elapsed / tau);

  auto current = b.latency_ewma_ns.load(std::memory_order_relaxed);
  std::uint64_t next = 0;
  do {
    if (current == 0 || s >= current) {
      next = s;  // first sample, or a peak: take it at once
    } else {
      next = static_cast<std::uint64_t>(static_cast<double>(current) * keep +
                                        static_cast<double>(s) * (1.0 - keep));
      next = std::max<std::uint64_t>(next, 1);
    }
  } while (!b.latency_ewma_ns.compare_exchange_weak(current, next, std::memory_order_relaxed));
}

LeastTimeBalancer::LeastTimeBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)) {
  for (const auto& c : usable_candidates(*snapshot_)) {
    backends_.push_back(c.backend);
    inverse_weight_.push_back(1.0 / c.weight);
  }
  if (!backends_.empty()) start_ = seed % backends_.size();
  update_unsampled_latency();
}

void LeastTimeBalancer::update_unsampled_latency() {
  std::int64_t sum = 0, sampled = 0;
  for (const Backend* b : backends_) {
    const auto latency =
        static_cast<std::int64_t>(b->latency_ewma_ns.load(std::memory_order_relaxed));
    sum += latency;
    sampled += latency != 0;
  }
  unsampled_latency_ = sampled == 0 ? 1.0 : static_cast<double>(sum) / static_cast<double>(sampled);
  all_sampled_ = sampled == static_cast<std::int64_t>(backends_.size());
}

namespace {

/// The arrays one scan reads, and the best candidate so far (kept in registers by the scan).
struct Scan {
  const Backend* const* backends;
  const double* inverse_weight;
  double unsampled;
  const Backend* skip;
  std::size_t best;
  double best_cost;
};

/// latency × (active + 1) ÷ weight of candidate `i`.
template <bool kAllSampled>
[[gnu::always_inline]] inline double cost_of(const Scan& s, std::size_t i) {
  const Backend* b = s.backends[i];
  // Via int64: latencies are far below 2^63, and an unsigned 64-bit conversion to double is a
  // branchy sequence on x86-64 without AVX-512.
  const auto latency =
      static_cast<std::int64_t>(b->latency_ewma_ns.load(std::memory_order_relaxed));
  const auto load = static_cast<std::int64_t>(b->active.load(std::memory_order_relaxed)) + 1;
  if constexpr (kAllSampled) {
    // latency × load in integers, converted once: the same double as converting both and
    // multiplying (both are exact in a double, and either way the exact product is rounded
    // once), with one int→double conversion instead of two — the conversions were the
    // bottleneck of this loop. Only an absurd product (≥ 2^63) takes the double path.
    std::int64_t product;
    if (__builtin_mul_overflow(latency, load, &product)) [[unlikely]] {
      return static_cast<double>(latency) * static_cast<double>(load) * s.inverse_weight[i];
    }
    return static_cast<double>(product) * s.inverse_weight[i];
  } else {
    const double l = latency != 0 ? static_cast<double>(latency) : s.unsampled;
    return l * static_cast<double>(load) * s.inverse_weight[i];
  }
}

[[gnu::always_inline]] inline void consider(Scan& s, std::size_t i, double cost) {
  if (cost < s.best_cost && s.backends[i] != s.skip) {
    s.best = i;
    s.best_cost = cost;
  }
}

/// Candidates [from, to) in order; a candidate replaces the best only when strictly cheaper.
template <bool kAllSampled>
void scan_range(Scan& s, std::size_t from, std::size_t to) {
  std::size_t i = from;
  // Four at a time: one compare and branch per group against the group's minimum (min is exact,
  // so "some cost < best" is decided exactly). New minima are rare after the first groups, so
  // the branch predicts well; only then are the four looked at one by one, in order, which keeps
  // "ties go to the first seen" and the avoid rule.
  for (; i + 4 <= to; i += 4) {
    const double c0 = cost_of<kAllSampled>(s, i), c1 = cost_of<kAllSampled>(s, i + 1),
                 c2 = cost_of<kAllSampled>(s, i + 2), c3 = cost_of<kAllSampled>(s, i + 3);
    if (std::min(std::min(c0, c1), std::min(c2, c3)) < s.best_cost) [[unlikely]] {
      consider(s, i, c0);
      consider(s, i + 1, c1);
      consider(s, i + 2, c2);
      consider(s, i + 3, c3);
    }
  }
  for (; i < to; ++i) consider(s, i, cost_of<kAllSampled>(s, i));
}

}  // namespace

template <bool kAllSampled>
std::size_t LeastTimeBalancer::least(const Backend* skip) const {
  const std::size_t n = backends_.size();
  // Every cost is finite (below 2^63 × 2^32), so the first candidate always beats infinity.
  Scan s{backends_.data(),
         inverse_weight_.data(),
         unsampled_latency_,
         skip,
         n,
         std::numeric_limits<double>::infinity()};
  // From the rotating start to the end, then from 0: ties go to the first seen.
  scan_range<kAllSampled>(s, start_, n);
  scan_range<kAllSampled>(s, 0, start_);
  return s.best;
}

const Backend* LeastTimeBalancer::pick(const PickContext& ctx) {
  const auto n = backends_.size();
  if (n == 0) return nullptr;
  if (n == 1) return backends_[0];
  // The mean latency for servers without samples moves slowly: refresh it every 64 picks
  // rather than paying a second sum on every pick.
  if ((++picks_ & 63) == 0 && !all_sampled_) update_unsampled_latency();
  auto least_of = [&](const Backend* skip) {
    return all_sampled_ ? least<true>(skip) : least<false>(skip);
  };
  auto best = least_of(nullptr);
  // Retries are rare: rescan without the avoided backend only when it won.
  if (ctx.avoid != nullptr && backends_[best] == ctx.avoid) best = least_of(ctx.avoid);
  start_ = start_ + 1 == n ? 0 : start_ + 1;
  return backends_[best];  // n ≥ 2, so at most one was avoided
}

}  // namespace lbd
