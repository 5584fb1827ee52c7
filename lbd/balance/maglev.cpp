#include "lbd/balance/maglev.hpp"

#include <algorithm>

#include "lbd/balance/candidates.hpp"
#include "lbd/balance/stable_hash.hpp"

namespace lbd {

namespace {

// Seeds that make a server's offset and skip two independent hashes of its name.
constexpr std::uint64_t kOffsetSeed = 0x6d61676c65762d6fULL;  // "maglev-o"
constexpr std::uint64_t kSkipSeed = 0x6d61676c65762d73ULL;    // "maglev-s"
constexpr std::uint32_t kEmpty = 0xffffffffu;

}  // namespace

MaglevTable::MaglevTable(const std::vector<Candidate>& candidates, std::uint32_t size) {
  const auto n = candidates.size();
  if (n == 0 || size == 0) return;
  std::uint32_t max_weight = 0;
  for (const auto& c : candidates) max_weight = std::max(max_weight, c.weight);
  if (max_weight == 0) return;

  struct Cursor {
    std::uint64_t position;
    std::uint64_t skip;
    std::uint64_t credit = 0;
  };
  std::vector<Cursor> cursors;
  cursors.reserve(n);
  for (const auto& c : candidates) {
    const auto offset = stable_hash(c.backend->name, kOffsetSeed) % size;
    const auto skip = size == 1 ? 1 : stable_hash(c.backend->name, kSkipSeed) % (size - 1) + 1;
    cursors.push_back({offset, skip});
  }

  entries_.assign(size, kEmpty);
  std::uint32_t filled = 0;
  // Weighted turns (integer "credit", as Envoy's weighted Maglev): each round every server earns
  // its weight and takes a slot per max_weight earned, so shares follow the weights.
  while (filled < size) {
    for (std::uint32_t i = 0; i < n && filled < size; ++i) {
      auto& cur = cursors[i];
      cur.credit += candidates[i].weight;
      if (cur.credit < max_weight) continue;
      cur.credit -= max_weight;
      // M prime and 1 ≤ skip < M: the permutation reaches every slot within M steps. Should a
      // caller pass a composite M, fall back to linear probing rather than loop forever.
      std::uint64_t steps = 0;
      while (entries_[cur.position] != kEmpty) {
        cur.position += ++steps < size ? cur.skip : 1;
        if (cur.position >= size) cur.position -= size;
      }
      entries_[cur.position] = i;
      ++filled;
    }
  }
}

MaglevBalancer::MaglevBalancer(PoolSnapshotPtr snapshot, const BalanceOptions& options,
                               std::uint64_t seed)
    : snapshot_(std::move(snapshot)),
      candidates_(candidates_by_name(*snapshot_)),
      table_(candidates_, options.maglev_table_size),
      bounded_(options.hash_balance_factor, candidates_),
      rng_(seed) {}

const Backend* MaglevBalancer::pick(const PickContext& ctx) {
  if (candidates_.empty() || table_.size() == 0) return nullptr;
  const auto start = table_.slot(ctx.hash ? *ctx.hash : rng_.next());
  return bounded_.walk(
      candidates_, start, table_.size(), [this](std::size_t pos) { return table_.owner(pos); },
      ctx.avoid);
}

}  // namespace lbd
