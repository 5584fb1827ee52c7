// The slow-start ramp (see slow_start.hpp).
#include "lbd/upstream/slow_start.hpp"

#include <algorithm>

namespace lbd {

std::uint32_t slow_start_weight(std::uint32_t configured, std::chrono::nanoseconds window,
                                std::chrono::nanoseconds elapsed) {
  if (configured == 0) return 0;
  if (window.count() <= 0 || elapsed >= window) return configured;
  if (elapsed.count() <= 0) return 1;
  // In floating point: weight (< 2^32) times nanoseconds (< 2^63) would overflow 64 bits.
  const double fraction =
      static_cast<double>(elapsed.count()) / static_cast<double>(window.count());
  const auto scaled = static_cast<std::uint32_t>(static_cast<double>(configured) * fraction);
  return std::max<std::uint32_t>(1, scaled);
}

}  // namespace lbd
