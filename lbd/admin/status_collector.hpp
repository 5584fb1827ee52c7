// Reads the control thread's state (config, health managers, snapshots, overrides) into the
// plain PoolView data of status_model.hpp. Control thread only.
#pragma once

#include "common/clock.hpp"
#include "lbd/admin/runtime_overrides.hpp"
#include "lbd/admin/status_model.hpp"
#include "lbd/config.hpp"
#include "lbd/upstream/health_manager.hpp"

namespace lbd::admin {

/// One pool as shown by `show servers`: health and weights from `manager`, candidates and live
/// connection counts from its last snapshot, overrides from `overrides`. `now` is on the clock
/// the manager uses (for the last-check age).
PoolView collect_pool(const PoolConfig& pool, const HealthManager& manager,
                      const RuntimeOverrides& overrides, lb::SteadyTime now);

/// "up"/"down"/"drain"/"maint" from the admin state and the health.
std::string server_state(AdminState admin, bool healthy, bool ejected);

}  // namespace lbd::admin
