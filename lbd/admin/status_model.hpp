// Plain data the control socket and the status page show: pools and servers, VRRP roles and the
// node's health. Filled on lbd's control thread (lbd/admin/status_collector.*); turned into JSON by
// lbd/admin/status_json.* (pure, unit-tested).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lbd/admin/role_tracker.hpp"
#include "lbd/replication/replicator.hpp"

namespace lbd::admin {

/// One server of a pool as the operator sees it.
struct ServerView {
  std::string name;
  std::string address;
  bool backup = false;
  /// "up", "down", "drain" or "maint": the admin state when not ready, else the health.
  std::string state;
  bool healthy = true;   // active checks say up (or no active check)
  bool ejected = false;  // passive outlier detection
  std::string admin;     // "ready", "drain", "maint"
  std::string reason;    // last check failure ("" when the last check passed)
  /// Time since the last active check ended (nullopt: no check ran yet or none configured).
  std::optional<std::chrono::milliseconds> last_check_age;
  std::uint32_t weight = 0;            // configured, or set with `server weight`
  std::uint32_t effective_weight = 0;  // after slow start and admin state (0 = no new picks)
  std::uint32_t active = 0;            // connections in use (not idle keep-alive), all workers
  std::uint64_t checks = 0;
  std::uint64_t failed_checks = 0;
  bool candidate = false;  // takes new picks now
  /// Runtime overrides in force (set over the control socket, kept across reloads).
  std::optional<std::string> admin_override;
  std::optional<std::uint32_t> weight_override;
};

struct PoolView {
  std::string name;
  std::string algorithm;
  std::string persistence;  // mode name, "none"
  std::uint64_t generation = 0;
  bool using_backups = false;
  std::vector<ServerView> servers;
  std::size_t candidates() const;
};

/// `health` answer for vrrpd's tracking: "ok", "degraded" (serving, but something is wrong) or
/// "stopping" (draining for shutdown: move the VIP away).
struct NodeHealth {
  std::string status = "ok";
  std::vector<std::string> reasons;
};

/// Everything the status page shows, in one consistent read of the control thread.
struct NodeStatus {
  std::string version;
  std::vector<PoolView> pools;
  std::optional<repl::ReplicationStatus> replication;
  RolesView roles;
  NodeHealth health;
  std::uint32_t active_connections = 0;
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
};

/// The health verdict from the pools and the drain flag: stopping while draining; degraded when a
/// pool has no server that takes new connections (reason "pool NAME: no server available").
NodeHealth assess_health(const std::vector<PoolView>& pools, bool draining);

}  // namespace lbd::admin
