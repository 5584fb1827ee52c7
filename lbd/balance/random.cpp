#include "lbd/balance/random.hpp"

#include "lbd/balance/candidates.hpp"

namespace lbd {

namespace {

std::vector<std::uint32_t> weights_of(const std::vector<Candidate>& candidates) {
  std::vector<std::uint32_t> w;
  w.reserve(candidates.size());
  for (const auto& c : candidates) w.push_back(c.weight);
  return w;
}

}  // namespace

WeightedDraw::WeightedDraw(const std::vector<Candidate>& candidates)
    : sampler_(weights_of(candidates)) {}

std::uint32_t WeightedDraw::draw(const std::vector<Candidate>& c, Rng& rng,
                                 const Backend* avoid) const {
  auto i = sampler_.draw(rng.next());
  if (c[i].backend != avoid || c.size() == 1) return i;
  // A couple of redraws keep the weighted shares among the others; the scan bounds the loop.
  for (int tries = 0; tries < 3; ++tries) {
    i = sampler_.draw(rng.next());
    if (c[i].backend != avoid) return i;
  }
  return i + 1 == c.size() ? 0 : i + 1;
}

RandomBalancer::RandomBalancer(PoolSnapshotPtr snapshot, std::uint64_t seed)
    : snapshot_(std::move(snapshot)),
      candidates_(usable_candidates(*snapshot_)),
      draw_(candidates_),
      rng_(seed) {}

const Backend* RandomBalancer::pick(const PickContext& ctx) {
  if (draw_.empty()) return nullptr;
  return candidates_[draw_.draw(candidates_, rng_, ctx.avoid)].backend;
}

}  // namespace lbd
