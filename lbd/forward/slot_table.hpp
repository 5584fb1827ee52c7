// The slot table of a forward-mode listener: slot → backend, filled Maglev-style from a pool
// snapshot (candidates by name, weights after health, drain, maintenance and slow start), so both
// nodes compute the same table from the same snapshot whatever their config order. Pure.
#pragma once

#include <cstdint>
#include <vector>

#include "lbd/balance/pool_snapshot.hpp"

namespace lbd::forward {

/// One entry per slot: the backend that new flows hashed to the slot go to. Empty when the
/// snapshot has no candidate (no backend takes new flows). `size` is prime.
std::vector<const Backend*> build_slot_table(const PoolSnapshot& snapshot, std::uint32_t size);

}  // namespace lbd::forward
