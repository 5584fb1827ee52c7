#include "lbd/forward/slot_table.hpp"

#include "lbd/balance/candidates.hpp"
#include "lbd/balance/maglev.hpp"

namespace lbd::forward {

std::vector<const Backend*> build_slot_table(const PoolSnapshot& snapshot, std::uint32_t size) {
  const auto candidates = candidates_by_name(snapshot);
  // The same permutation fill as the user-space maglev balancer: one backend leaving moves only
  // its own slots, so flows hashed elsewhere keep their backend across a snapshot change.
  const MaglevTable table(candidates, size);
  std::vector<const Backend*> out;
  out.reserve(table.size());
  for (std::uint32_t slot = 0; slot < table.size(); ++slot) {
    out.push_back(candidates[table.owner(slot)].backend);
  }
  return out;
}

}  // namespace lbd::forward
