// A small, fast, seedable random generator for the randomised balancers. std:: distributions are
// implementation-defined, so tests with a fixed seed would break across standard libraries; this
// one is fully specified (splitmix64) and bounded draws use Lemire's multiply-shift.
#pragma once

#include <cstdint>

#include "lbd/balance/stable_hash.hpp"
#include "lbd/balance/uint128.hpp"

namespace lbd {

/// splitmix64 (Steele, Lea, Flood 2014): 64-bit state, passes BigCrush. Not thread-safe; each
/// balancer owns one.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }

  /// Uniform in [0, n) for n > 0 (multiply-shift; bias below 2^-32 for n < 2^32).
  std::uint32_t below(std::uint32_t n) { return scale(next(), n); }

  /// Maps a uniform 64-bit value to [0, n) without division.
  static std::uint32_t scale(std::uint64_t x, std::uint32_t n) {
    return static_cast<std::uint32_t>((static_cast<u128>(x) * n) >> 64);
  }

 private:
  std::uint64_t state_;
};

}  // namespace lbd
