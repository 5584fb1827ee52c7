// From the running config and the latest pool snapshots to the forward-mode services the kernel
// serves (lbd/forward/ruleset.hpp). Pure.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lbd/balance/pool_snapshot.hpp"
#include "lbd/config.hpp"
#include "lbd/forward/ruleset.hpp"

namespace lbd::forward {

/// The forward-mode listeners of `config`, in config order (service i uses map_name(i)).
std::vector<const ListenerConfig*> forward_listeners(const Config& config);

/// The service of a forward listener over `snapshot` (nullptr: no snapshot yet, no targets).
/// The config was validated: its pool's balancing has a selector.
Service make_service(const Config& config, const ListenerConfig& listener,
                     const PoolSnapshot* snapshot);

/// The VIPs of every forward listener (the addresses whose conntrack entries lbd replicates).
std::vector<lb::Endpoint> forward_vips(const Config& config);

}  // namespace lbd::forward
