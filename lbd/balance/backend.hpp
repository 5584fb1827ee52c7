// A backend server as the data plane sees it: identity from the config plus live counters that
// every worker updates. Backends are identified by name (stable across config order and nodes).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "common/net/ip_address.hpp"

namespace lbd {

/// One server of a pool. The identity fields are immutable after construction; the counters are
/// atomics shared by all workers (relaxed ordering: they steer balancing, they do not guard data).
/// A Backend outlives every snapshot that points to it (snapshots hold shared_ptrs).
struct Backend {
  Backend(std::string name_, lb::Endpoint address_, std::uint32_t weight_,
          std::uint32_t max_connections_ = 0, bool backup_ = false)
      : name(std::move(name_)),
        address(address_),
        weight(weight_),
        max_connections(max_connections_),
        backup(backup_) {}

  const std::string name;
  const lb::Endpoint address;
  const std::uint32_t weight;           // configured weight; snapshots carry the effective one
  const std::uint32_t max_connections;  // limit on `active`; 0 = unlimited
  const bool backup;

  /// Connections to this backend carrying a request or TCP session now, over all workers (idle
  /// keep-alive connections parked in a worker's pool are not counted: see BackendLease).
  mutable std::atomic<std::uint32_t> active{0};
  /// Peak-EWMA of response latency in nanoseconds (0 = no sample yet), fed by the proxy.
  mutable std::atomic<std::uint64_t> latency_ewma_ns{0};
  /// Monotonic time (ns) of the last latency sample, for EWMA decay.
  mutable std::atomic<std::int64_t> latency_stamp_ns{0};
  /// What the backend's agent last reported (weight percent and up/drain/down), packed by
  /// lbd/balance/agent_report.hpp; written by the AgentPoller, read by the agent balancer.
  /// The initial value means "100 %, up".
  mutable std::atomic<std::uint32_t> agent_status{100};
};

}  // namespace lbd
